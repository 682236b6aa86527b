"""Verifying a typed code: count the attempt, then compare, then settle (otp.attempts has
the rules). A successful verify costs the database four round trips: the door read that
authenticated the request, the counted attempt, the consumption, and the audit insert.

A person's code (see otp.issue) counts a use of the grant that allowed it in the same update
that uses the code up, and that update applies only while the grant has uses left: a use and
its count are one atomic step, with no extra round trip. Watchers are told of an unlock after
the reply (access.notices)."""

from __future__ import annotations

from datetime import datetime

from smartdoor.access import notices
from smartdoor.audit import service as audit
from smartdoor.doors import lockout
from smartdoor.doors.models import Door, EndedCode, PendingCode
from smartdoor.doors.pending import end_pending, end_pending_update, ended_entry
from smartdoor.doors.service import code_keys
from smartdoor.errors import CodeRejected, DomainError, LockedOut, NotAllowed, NotFound, Unavailable
from smartdoor.otp import codes, notify
from smartdoor.otp.attempts import Attempt, Replay, outcome_of, plan_attempt, rejected, replay_result
from smartdoor.otp.deps import MAX_CONFLICTS, EngineDeps
from smartdoor.otp.expiry import expiry_event
from smartdoor.signing.authenticate import request_fingerprint


async def verify_code(
    deps: EngineDeps,
    *,
    door: Door,
    challenge_id: str | None,
    code: str,
    now: datetime,
    client: str | None,
    nonce: str | None = None,
    signature: str = "",
) -> str:
    """The action of the code if `code` is right (the code is used up); raises a DomainError
    otherwise. `nonce`/`signature`: the signed request's, so that the identical request sent
    again gets the same outcome without another attempt."""
    base = {"door": door["_id"], "client": client, **_person_of(door, challenge_id)}
    sig = request_fingerprint(signature)
    attempt = None
    for _ in range(MAX_CONFLICTS):
        try:
            plan = plan_attempt(
                door, challenge_id=challenge_id, nonce=nonce, sig=sig, now=now, limits=deps.limits(door)
            )
        except DomainError as refused:
            await _refused(deps, door=door, challenge_id=challenge_id, refused=refused, now=now, base=base)
            raise
        if isinstance(plan, Replay):
            await audit.record(deps.db, now=now, event="resent", outcome="info", reason="verify", **base)
            return replay_result(plan.outcome, now)
        counted = await deps.db.doors.update_one({"_id": door["_id"], "rev": door.get("rev")}, plan.update)
        if counted.modified_count:
            attempt = plan
            break
        fresh = await deps.db.doors.find_one({"_id": door["_id"]})
        if fresh is None:
            raise NotFound("no such code request", reason="unknown_challenge")
        door = fresh
    if attempt is None:
        raise Unavailable("this door is busy: try again", reason="busy")

    pending = attempt.pending
    if codes.matches(
        code_keys(deps.keyring, door), challenge_id=pending["id"], code=code, stored_hash=pending["code_hash"]
    ):
        return await _consume(deps, door=door, pending=pending, nonce=nonce, sig=sig, now=now, base=base)
    await _wrong(deps, door=door, attempt=attempt, nonce=nonce, sig=sig, now=now, base=base)
    raise AssertionError("unreachable")


def _person_of(door: Door, challenge_id: str | None) -> dict:
    """The person whose code this is, for the audit ({} for a shared code or an unknown one)."""
    pending = door.get("pending")
    found: PendingCode | EndedCode | None = None
    if pending and (challenge_id is None or pending["id"] == challenge_id):
        found = pending
    else:
        found = next((e for e in door.get("ended") or [] if e["id"] == challenge_id), None)
    return {"person": found["person"]} if found and "person" in found else {}


async def _consume(
    deps: EngineDeps, *, door: Door, pending: PendingCode, nonce: str | None, sig: str, now: datetime, base: dict
) -> str:
    action = pending["action"]
    replies = dict(pending["replies"])
    if nonce:
        replies[nonce] = outcome_of(sig, action, now)
    where: dict = {"_id": door["_id"], "pending.id": pending["id"]}
    update = end_pending_update(ended_entry(pending, "used", now, replies), lockout.CLEARED)
    granted: dict = {}
    if grant := pending.get("grant"):
        granted["grant"] = grant
        update["$inc"][f"grant_uses.{grant}"] = 1
        if (max_uses := pending.get("max_uses")) is not None:
            where[f"grant_uses.{grant}"] = {"$not": {"$gte": max_uses}}
    used = await deps.db.doors.update_one(where, update)
    if not used.modified_count:
        ran_out = "max_uses" in pending and await _uses_ran_out(
            deps, door=door, pending=pending, nonce=nonce, sig=sig, now=now
        )
        if ran_out:
            await audit.record(
                deps.db, now=now, event="verify", outcome="refused", reason="uses_exhausted",
                challenge=pending["id"], **granted, **base,
            )  # fmt: skip
            raise NotAllowed("uses_exhausted")
        # a racing request with the right code was first
        await audit.record(
            deps.db, now=now, event="verify", outcome="failure", reason="used", challenge=pending["id"], **base
        )
        raise rejected("used")
    await audit.record(
        deps.db, now=now, event="verify", outcome="success", action=action, challenge=pending["id"], **granted, **base
    )
    if action == "unlock":
        notices.unlocked(
            deps, door=door, unlocks=[notices.Unlock(at=now, how="code", person=pending.get("person"))], now=now
        )
    return action


async def _uses_ran_out(
    deps: EngineDeps, *, door: Door, pending: PendingCode, nonce: str | None, sig: str, now: datetime
) -> bool:
    """After a consumption that did not apply: True when the code is still live, so its grant had
    no use left (its uses were counted since it was issued), and the outcome is kept for a resend.
    Issuing checks the count on the same revision of the door, so this is a second line only."""
    fresh = await deps.db.doors.find_one({"_id": door["_id"]}, {"pending.id": 1})
    if not fresh or (fresh.get("pending") or {}).get("id") != pending["id"]:
        return False
    if nonce:
        await deps.db.doors.update_one(
            {"_id": door["_id"], "pending.id": pending["id"]},
            {"$set": {f"pending.replies.{nonce}": outcome_of(sig, NotAllowed("uses_exhausted"), now)}},
        )
    return True


async def _wrong(
    deps: EngineDeps, *, door: Door, attempt: Attempt, nonce: str | None, sig: str, now: datetime, base: dict
) -> None:
    pending = attempt.pending
    refusal = attempt.refusal_if_wrong()
    if nonce:
        await deps.db.doors.update_one(
            {"_id": door["_id"], "pending.id": pending["id"]},
            {"$set": {f"pending.replies.{nonce}": outcome_of(sig, refusal, now)}},
        )
    events = [
        audit.entry(
            now=now,
            event="wrong_code",
            outcome="failure",
            action=pending["action"],
            challenge=pending["id"],
            attempts_left=attempt.attempts_left,
            **base,
        )
    ]
    if attempt.attempts_left == 0:
        events.append(audit.entry(now=now, event="burned", outcome="failure", challenge=pending["id"], **base))
    cost = attempt.cost
    if cost.hard:
        events.append(audit.entry(now=now, event="hard_lockout", outcome="failure", failures=cost.failures, **base))
    elif cost.wait_seconds:
        events.append(
            audit.entry(
                now=now,
                event="lockout",
                outcome="failure",
                failures=cost.failures,
                wait_seconds=cost.wait_seconds,
                **base,
            )
        )
    if isinstance(refusal, LockedOut):
        await notify.first_lockout(deps, door=door, failures=cost.failures, wait=cost.wait_seconds, now=now)
    await audit.record_many(deps.db, events)
    raise refusal


async def _refused(
    deps: EngineDeps, *, door: Door, challenge_id: str | None, refused: DomainError, now: datetime, base: dict
) -> None:
    """Audits a verify refused before any attempt; the live code, when it was the one refused as
    expired, is moved to the ended list here (once, whoever notices first: this or the expiry
    sweeper). A refusal of an older code leaves the live one alone, and is audited."""
    pending = door.get("pending")
    tried_live = pending is not None and challenge_id in (None, pending["id"])
    if isinstance(refused, CodeRejected) and refused.reason == "expired" and tried_live:
        assert pending is not None
        moved = await deps.db.doors.update_one(
            {"_id": door["_id"], "pending.id": pending["id"]}, end_pending(pending, "expired", now)
        )
        if moved.modified_count:
            await audit.record_many(deps.db, [expiry_event(pending, now=now, **base)])
            return
    event = "replay" if refused.reason == "replayed_request" else "verify"
    outcome = "refused" if isinstance(refused, LockedOut) else "failure"
    await audit.record(deps.db, now=now, event=event, outcome=outcome, reason=refused.reason, **base)
