"""Each signed request is acted on once. Its nonce is recorded (MongoDB collection `nonces`,
kept longer than the clock-skew window, so any replay fresh enough to pass the `created`
check is caught here), and so is the reply: when a door resends the identical request after
losing the reply, it gets the original reply again, signed for that request, and nothing is
done twice. The same nonce on a different request is a replay and is refused.

Verifies do not come here: a verify's nonce is kept on the code it tries (otp.attempts),
which saves a round trip on the path that opens the door."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi.responses import Response
from pymongo.errors import DuplicateKeyError

from smartdoor.api.errors import error_payload, http_status, json_reply
from smartdoor.audit import service as audit
from smartdoor.errors import DomainError, InProgress, NotAuthenticated
from smartdoor.signing.authenticate import Authenticated, request_fingerprint
from smartdoor.store.database import Database

Handler = Callable[[], Awaitable[tuple[int, dict]]]


async def answer_once(
    db: Database, request: Authenticated, handle: Handler, *, skew_seconds: int, client: str | None
) -> Response:
    """Runs `handle` (which returns status and payload, or raises a DomainError) unless this
    request was handled before; either way answers with the reply, signed."""
    door_id, nonce = request.door["_id"], request.params.nonce
    key = f"{door_id}:{nonce}"
    sig = request_fingerprint(request.signature)
    keep = timedelta(seconds=2 * skew_seconds + 60)
    try:
        await db.nonces.insert_one({"_id": key, "sig": sig, "status": 0, "purge_at": request.now + keep})
    except DuplicateKeyError:
        seen = await db.nonces.find_one({"_id": key})
        reason = "replayed_request" if seen is None or seen.get("sig") != sig else None
        if reason is None and seen is not None and seen.get("status"):
            await audit.record(db, now=request.now, event="resent", outcome="info", door=door_id, client=client)
            return json_reply(seen["status"], seen["payload"], signer=request)
        await audit.record(
            db,
            now=request.now,
            event="replay",
            outcome="refused",
            door=door_id,
            client=client,
            reason=reason or "in_progress",
        )
        if reason:
            raise NotAuthenticated("this request was seen before", reason=reason) from None
        raise InProgress() from None
    try:
        status, payload = await handle()
    except DomainError as refused:
        await db.nonces.update_one(
            {"_id": key}, {"$set": {"status": http_status(refused), "payload": error_payload(refused)}}
        )
        raise
    await db.nonces.update_one({"_id": key}, {"$set": {"status": status, "payload": payload}})
    return json_reply(status, payload, signer=request)
