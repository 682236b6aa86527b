"""The code engine: issue, verify, limits. All state lives in MongoDB so limits hold across
processes; every function takes `now` so expiry and lockouts are testable without sleeping."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from smartdoor.audit import service as audit
from smartdoor.crypto import Keyring
from smartdoor.errors import ApiError
from smartdoor.mail import message as mail_message
from smartdoor.otp.codes import generate_code, lockout_seconds
from smartdoor.settings import Settings
from smartdoor.store.database import Database

PENDING = "pending"
log = logging.getLogger(__name__)
KEEP_CHALLENGES = timedelta(days=1)  # TTL clean-up; the audit keeps the history

SendMail = Callable[[EmailMessage], Awaitable[str | None]]


@dataclass
class Issued:
    challenge_id: str
    expires_at: datetime
    digits: int
    recipients: list[str]
    delivery_error: str | None = None
    superseded: list[str] = field(default_factory=list)


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds() + 0.999))


def check_lockout(door: dict, now: datetime) -> None:
    if door.get("hard_locked"):
        raise ApiError(
            429, "hard_lockout", "too many wrong codes: an administrator must clear this door", retry_after=3600
        )
    until = door.get("locked_until")
    if until is not None and until > now:
        raise ApiError(
            429, "locked_out", "too many wrong codes: wait before trying again", retry_after=_retry_after(until, now)
        )


async def _take_request_slot(db: Database, settings: Settings, *, door_id: str, now: datetime) -> None:
    window_start = now - timedelta(seconds=settings.request_window_seconds)
    await db.doors.update_one({"_id": door_id}, {"$pull": {"recent_requests": {"$lte": window_start}}})
    # one conditional push: a slot is taken only while fewer than the limit are in the window
    taken = await db.doors.update_one(
        {"_id": door_id, f"recent_requests.{settings.max_requests_per_window - 1}": {"$exists": False}},
        {"$push": {"recent_requests": now}},
    )
    if not taken.matched_count:
        door = await db.doors.find_one({"_id": door_id}, {"recent_requests": 1})
        oldest = min(door["recent_requests"]) if door and door.get("recent_requests") else now
        until = oldest + timedelta(seconds=settings.request_window_seconds)
        raise ApiError(
            429, "rate_limited", "too many code requests for this door", retry_after=_retry_after(until, now)
        )


async def issue_code(
    db: Database,
    keyring: Keyring,
    settings: Settings,
    send_mail: SendMail,
    *,
    door: dict,
    action: str,
    now: datetime,
    client: str | None,
    digits: int | None = None,
) -> Issued:
    door_id = door["_id"]
    try:
        check_lockout(door, now)
        await _take_request_slot(db, settings, door_id=door_id, now=now)
    except ApiError as refused:
        await audit.record(
            db,
            now=now,
            event="code_request",
            outcome="refused",
            door=door_id,
            action=action,
            reason=refused.error,
            client=client,
        )
        raise
    digits = digits or settings.code_digits
    code = generate_code(digits)
    challenge_id = secrets.token_urlsafe(16)
    expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
    await db.challenges.insert_one(
        {
            "_id": challenge_id,
            "door": door_id,
            "action": action,
            "status": PENDING,
            "code_hash": keyring.hash_code(challenge_id, code),
            "digits": digits,
            "attempts": 0,
            "seen_nonces": [],
            "created_at": now,
            "expires_at": expires_at,
            "purge_at": expires_at + KEEP_CHALLENGES,
        }
    )
    # a new code supersedes every older pending one of the door (inserted first, so that two
    # racing requests can never leave two pending codes)
    older = await db.challenges.find(
        {"door": door_id, "status": PENDING, "_id": {"$ne": challenge_id}}, {"_id": 1}
    ).to_list()
    superseded = [c["_id"] for c in older]
    if superseded:
        await db.challenges.update_many(
            {"_id": {"$in": superseded}, "status": PENDING}, {"$set": {"status": "superseded", "ended_at": now}}
        )
    # the door remembers its pending challenge, so a verify (which reads the door anyway)
    # knows the action without reading the challenge
    await db.doors.update_one({"_id": door_id}, {"$set": {"pending": {"id": challenge_id, "action": action}}})
    recipients = list(dict.fromkeys([*door.get("recipients", []), *settings.recipient_list]))
    if recipients:
        delivery_error = await send_mail(
            mail_message.code_message(
                sender=settings.mail_from,
                to=recipients,
                door_name=door["name"],
                action=action,
                code=code,
                expires_at=expires_at,
            )
        )
    else:
        delivery_error = "no recipients configured"
    events = [audit.entry(now=now, event="superseded", outcome="info", door=door_id, challenge=c) for c in superseded]
    events.append(
        audit.entry(
            now=now,
            event="code_request",
            outcome="success",
            door=door_id,
            action=action,
            client=client,
            challenge=challenge_id,
        )
    )
    events.append(
        audit.entry(
            now=now,
            event="mail_delivery",
            outcome="failure" if delivery_error else "success",
            door=door_id,
            action=action,
            reason=delivery_error,
            challenge=challenge_id,
            recipients=len(recipients),
        )
    )
    await audit.record_many(db, events)
    return Issued(challenge_id, expires_at, digits, recipients, delivery_error, superseded)


async def verify_code(
    db: Database,
    keyring: Keyring,
    settings: Settings,
    send_mail: SendMail,
    *,
    door: dict,
    code: str,
    challenge_id: str | None,
    now: datetime,
    client: str | None,
    nonce: str | None = None,
) -> str:
    """Consumes the challenge if `code` is right; returns its action. Raises ApiError otherwise.
    `nonce`: the signed request's nonce; a challenge remembers the nonces of its wrong
    attempts, so a replayed verify is refused without the general nonce cache round trip."""
    door_id = door["_id"]
    base = {"door": door_id, "client": client}
    try:
        check_lockout(door, now)
    except ApiError as refused:
        await audit.record(db, now=now, event="verify", outcome="refused", reason=refused.error, **base)
        raise
    pending = door.get("pending") or {}
    if challenge_id is None:  # legacy: the door's one pending code
        challenge_id = pending.get("id")
    if challenge_id is None:
        await audit.record(db, now=now, event="verify", outcome="failure", reason="no_pending_code", **base)
        raise ApiError(404, "unknown_challenge", "no code is pending for this door")
    if pending.get("id") == challenge_id:
        action = pending["action"]
    else:  # not the door's latest challenge (superseded, or another door's): one more read
        other = await db.challenges.find_one({"_id": challenge_id, "door": door_id}, {"action": 1})
        action = other["action"] if other else None
    live = {
        "_id": challenge_id,
        "door": door_id,
        "status": PENDING,
        "expires_at": {"$gt": now},
        "attempts": {"$lt": settings.max_attempts_per_code},
        "seen_nonces": {"$ne": nonce},
    }
    # single use: one atomic conditional update that checks and consumes together. (update_one,
    # not find_one_and_update: the embedded server scans the whole collection for the latter.)
    consumed = await db.challenges.update_one(
        {**live, "action": action, "code_hash": keyring.hash_code(challenge_id, code)},
        {"$set": {"status": "used", "ended_at": now}},
    )
    if consumed.modified_count:
        if door.get("failures") or door.get("locked_until"):
            await db.doors.update_one({"_id": door_id}, {"$set": {"failures": 0, "locked_until": None}})
        await audit.record(
            db, now=now, event="verify", outcome="success", action=action, challenge=challenge_id, **base
        )
        return action
    await _refuse(
        db, settings, send_mail, door=door, challenge_id=challenge_id, live=live, nonce=nonce, now=now, base=base
    )
    raise AssertionError("unreachable")


async def _refuse(
    db: Database,
    settings: Settings,
    send_mail: SendMail,
    *,
    door: dict,
    challenge_id: str,
    live: dict,
    nonce: str | None,
    now: datetime,
    base: dict,
) -> None:
    door_id = door["_id"]
    # count the wrong attempt first, with the same liveness conditions: racing wrong codes
    # can never count more attempts than the challenge allows
    update: dict = {"$inc": {"attempts": 1}}
    if nonce is not None:
        update["$push"] = {"seen_nonces": nonce}
    counted = await db.challenges.update_one(live, update)
    ch = await db.challenges.find_one({"_id": challenge_id, "door": door_id})
    if counted.modified_count and ch is not None:
        wrong = ch
    else:  # not a wrong code: find out why the challenge is not live
        if ch is None:
            reason, status, msg = "unknown_challenge", 404, "no such code request"
        elif nonce is not None and nonce in ch.get("seen_nonces", []):
            reason, status, msg = "replayed_request", 401, "this request was seen before"
        elif ch["status"] == PENDING and ch["expires_at"] <= now:
            await db.challenges.update_one(
                {"_id": challenge_id, "status": PENDING}, {"$set": {"status": "expired", "ended_at": now}}
            )
            reason, status, msg = "expired", 410, "the code has expired"
        elif ch["status"] == PENDING:  # attempts exhausted but not yet marked
            reason, status, msg = "burned", 410, "too many wrong codes for this code"
        else:
            reason, status, msg = ch["status"], 410, f"the code is {ch['status']}"
        event = "replay" if reason == "replayed_request" else ("expiry" if reason == "expired" else "verify")
        await audit.record(db, now=now, event=event, outcome="failure", reason=reason, challenge=challenge_id, **base)
        raise ApiError(status, reason, msg)

    attempts_left = max(0, settings.max_attempts_per_code - wrong["attempts"])
    events = [
        audit.entry(
            now=now,
            event="wrong_code",
            outcome="failure",
            action=wrong["action"],
            challenge=challenge_id,
            attempts_left=attempts_left,
            **base,
        )
    ]
    if attempts_left == 0:
        burned = await db.challenges.update_one(
            {"_id": challenge_id, "status": PENDING}, {"$set": {"status": "burned", "ended_at": now}}
        )
        if burned.modified_count:  # racing wrong codes: one of them records the burn
            events.append(audit.entry(now=now, event="burned", outcome="failure", challenge=challenge_id, **base))
    # the door's consecutive failures: only a success or an administrator resets them
    door_after = await db.doors.find_one_and_update(
        {"_id": door_id}, {"$inc": {"failures": 1}}, return_document=ReturnDocument.AFTER
    )
    failures = door_after["failures"] if door_after else 0
    error: ApiError
    if failures >= settings.hard_lockout_failures:
        await db.doors.update_one({"_id": door_id}, {"$set": {"hard_locked": True}})
        events.append(audit.entry(now=now, event="hard_lockout", outcome="failure", failures=failures, **base))
        error = ApiError(
            429, "hard_lockout", "too many wrong codes: an administrator must clear this door", retry_after=3600
        )
    elif wait := lockout_seconds(
        failures,
        per_lockout=settings.failures_per_lockout,
        base=settings.lockout_base_seconds,
        maximum=settings.lockout_max_seconds,
    ):
        await db.doors.update_one({"_id": door_id}, {"$set": {"locked_until": now + timedelta(seconds=wait)}})
        events.append(
            audit.entry(now=now, event="lockout", outcome="failure", failures=failures, wait_seconds=wait, **base)
        )
        error = ApiError(429, "locked_out", "too many wrong codes: wait before trying again", retry_after=wait)
        first = await db.doors.update_one(
            {"_id": door_id, "lockout_notified": {"$ne": True}}, {"$set": {"lockout_notified": True}}
        )
        if first.modified_count:
            await _notify_lockout(
                settings, send_mail, door=door, failures=failures, wait=wait, now=now, events=events, base=base
            )
    elif attempts_left == 0:
        error = ApiError(410, "burned", "too many wrong codes for this code: request a new one", attempts_left=0)
    else:
        error = ApiError(403, "wrong_code", "wrong code", attempts_left=attempts_left)
    await audit.record_many(db, events)
    raise error


async def _notify_lockout(
    settings: Settings,
    send_mail: SendMail,
    *,
    door: dict,
    failures: int,
    wait: int,
    now: datetime,
    events: list,
    base: dict,
) -> None:
    recipients = list(dict.fromkeys([*door.get("recipients", []), *settings.recipient_list]))
    if not recipients:
        return
    error = await send_mail(
        mail_message.lockout_message(
            sender=settings.mail_from,
            to=recipients,
            door_name=door["name"],
            failures=failures,
            wait_seconds=wait,
            now=now,
        )
    )
    events.append(
        audit.entry(now=now, event="lockout_notice", outcome="failure" if error else "success", reason=error, **base)
    )


async def expire_overdue(db: Database, *, now: datetime, limit: int = 500) -> int:
    """Marks pending codes past their expiry as expired and audits each once (a conditional
    update per code, so several backend processes sweeping at once never double-count)."""
    overdue = (
        await db.challenges.find({"status": PENDING, "expires_at": {"$lte": now}}, {"door": 1, "action": 1})
        .limit(limit)
        .to_list()
    )
    events = []
    for ch in overdue:
        marked = await db.challenges.update_one(
            {"_id": ch["_id"], "status": PENDING}, {"$set": {"status": "expired", "ended_at": now}}
        )
        if marked.modified_count:
            events.append(
                audit.entry(
                    now=now,
                    event="expiry",
                    outcome="info",
                    door=ch["door"],
                    action=ch["action"],
                    reason="not used in time",
                    challenge=ch["_id"],
                )
            )
    await audit.record_many(db, events)
    return len(events)


async def expiry_sweeper(db: Database, clock, *, every_seconds: float = 30) -> None:
    """Runs for the app's lifetime: codes nobody typed in time still get their audit event."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await expire_overdue(db, now=clock.now())
        except PyMongoError as exc:  # a database outage must not end the sweeper
            log.warning("expiry sweep failed: %s", type(exc).__name__)
