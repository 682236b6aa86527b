"""Each signed request is acted on once. Its nonce is claimed (MongoDB collection `nonces`,
kept longer than the clock-skew window, so any replay fresh enough to pass the `created`
check is caught here) before anything is done, and its reply is stored: when a door resends
the identical request after losing the reply, it gets the original reply again, signed for
that request, and nothing is done twice. The same nonce on a different request is a replay
and is refused.

The claim is a journaled write the request waits for. The reply is stored just after it is
sent: the door waiting at the keypad does not wait for a record that only serves a resend.
A resend this process receives first waits for that write; one another process receives in
that moment is answered 409 in_progress, as a resend during the handling is, and the door
sends it again after Retry-After (firmware/lib/doorlogic/client.py). If the database fails
the write, the resend keeps getting 409 until the claim expires: nothing is done twice.

Verifies do not come here: a verify's nonce is kept on the code it tries (otp.attempts),
which saves a round trip on the path that opens the door."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi.responses import Response
from pymongo.errors import DuplicateKeyError

from smartdoor.api.errors import error_payload, http_status, json_reply
from smartdoor.audit import service as audit
from smartdoor.background import Background
from smartdoor.errors import DomainError, InProgress, NotAuthenticated
from smartdoor.signing.authenticate import Authenticated, request_fingerprint
from smartdoor.store.database import Database

Handler = Callable[[], Awaitable[tuple[int, dict]]]


class Ledger:
    def __init__(self, db: Database, background: Background) -> None:
        self._db = db
        self._background = background
        self._storing: dict[str, asyncio.Task] = {}  # replies of this process not yet stored, by nonce key

    async def answer_once(
        self, request: Authenticated, handle: Handler, *, skew_seconds: int, client: str | None
    ) -> Response:
        """Runs `handle` (which returns status and payload, or raises a DomainError) unless this
        request was handled before; either way answers with the reply, signed."""
        db = self._db
        door_id, nonce = request.door["_id"], request.params.nonce
        key = f"{door_id}:{nonce}"
        sig = request_fingerprint(request.signature)
        keep = timedelta(seconds=2 * skew_seconds + 60)
        try:
            await db.nonces.insert_one({"_id": key, "sig": sig, "status": 0, "purge_at": request.now + keep})
        except DuplicateKeyError:
            if (storing := self._storing.get(key)) is not None:
                await asyncio.wait({storing})  # not cancelled if this request is
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
            self._store(key, http_status(refused), error_payload(refused))
            raise
        self._store(key, status, payload)
        return json_reply(status, payload, signer=request)

    def _store(self, key: str, status: int, payload: dict) -> None:
        """The reply's record, written after the reply is sent (a task the app waits for when it stops)."""
        stored = self._db.nonces.update_one({"_id": key}, {"$set": {"status": status, "payload": payload}})
        task = self._background.spawn(stored)
        self._storing[key] = task
        task.add_done_callback(lambda _: self._storing.pop(key, None))
