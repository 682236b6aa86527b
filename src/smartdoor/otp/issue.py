"""Issuing a code: check the door's lockout and request limit, and, when a person typed their
number, whether a grant lets them do this now; store the new code in place of the old one
(one conditional update of the door), mail it through the outbox (the first attempt before the
reply, retries after it until the code expires) or push it, as the person chose, audit it.

A person's code goes to that person only, and remembers them and the grant that allowed it:
the verify names them and counts the grant's use. A refused person gets the same words
whatever the reason, and their request takes its place in the door's request window like any
other (so typing numbers cannot be done faster than codes can be asked for)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson.binary import Binary

from smartdoor.access import keypad
from smartdoor.access.keypad import Decision, Requester
from smartdoor.audit import service as audit
from smartdoor.crypto import code_hash
from smartdoor.doors import lockout
from smartdoor.doors.lockout import Limits
from smartdoor.doors.models import KEEP_ENDED, Door, PendingCode
from smartdoor.doors.pending import end_status, ended_entry
from smartdoor.doors.service import code_keys
from smartdoor.errors import DomainError, Forbidden, NotAllowed, NotFound, RateLimited, Unavailable
from smartdoor.mail import message as mail_message
from smartdoor.otp.codes import generate_code, new_challenge_id
from smartdoor.otp.deps import MAX_CONFLICTS, EngineDeps
from smartdoor.otp.expiry import expiry_event
from smartdoor.outbox.mail import code_mail
from smartdoor.push import deliver as push_deliver
from smartdoor.push import urls as push_urls


@dataclass
class Issued:
    challenge_id: str
    expires_at: datetime
    digits: int
    recipients: list[str]
    delivery_error: str | None = None


def request_slots(door: Door, *, now: datetime, window_seconds: int, limit: int) -> list[datetime]:
    """The door's code requests still inside the window, with this one added; raises
    RateLimited when the window is full."""
    start = now - timedelta(seconds=window_seconds)
    recent = [t for t in door.get("recent_requests") or [] if t > start]
    if len(recent) >= limit:
        raise RateLimited(retry_after=lockout.retry_after(min(recent) + timedelta(seconds=window_seconds), now))
    return [*recent, now]


def old_code_status(pending: PendingCode, *, now: datetime, limits: Limits) -> str:
    return end_status(pending, now=now, max_attempts=limits.max_attempts_per_code) or "superseded"


async def issue_code(
    deps: EngineDeps,
    *,
    door: Door,
    action: str,
    now: datetime,
    client: str | None,
    digits: int | None = None,
    requester: Requester | None = None,
) -> Issued:
    """`requester`: the person who typed their number (access.keypad.load), or None for a
    shared code (the door's recipients), which the door's `shared_codes` must allow."""
    settings = deps.settings
    digits = digits or settings.code_digits
    who = _who(requester)
    if requester is None and not door.get("shared_codes", True):
        await audit.record(
            deps.db, now=now, event="code_request", outcome="refused", door=door["_id"], action=action,
            reason="person_required", client=client,
        )  # fmt: skip
        raise Forbidden("this door gives codes only to a person who types their number", reason="person_required")
    decision: Decision | None = None
    for _ in range(MAX_CONFLICTS):
        try:
            lockout.check(door, now)
            slots = request_slots(
                door, now=now, window_seconds=settings.request_window_seconds, limit=settings.max_requests_per_window
            )
        except DomainError as refused:
            await audit.record(
                deps.db,
                now=now,
                event="code_request",
                outcome="refused",
                door=door["_id"],
                action=action,
                reason=refused.reason,
                client=client,
                **who,
            )
            raise
        if requester is not None:
            decision = keypad.decide(requester, door=door, action=action, now=now)
            if not decision.allowed:  # counted in the window, nothing else changes
                if await _stored(deps, door, {"$set": {"recent_requests": slots}, "$inc": {"rev": 1}}):
                    break
                door = await _reread(deps, door)
                continue
        fields: dict = {}
        if door.get("sealed_code_key") is None:  # a door from before codes had their own key
            fields["sealed_code_key"] = Binary(deps.keyring.seal(door["_id"], secrets.token_bytes(32)))
            key = deps.keyring.open(door["_id"], fields["sealed_code_key"])
        else:
            key = code_keys(deps.keyring, door)[0]
        code = generate_code(digits)
        challenge_id = new_challenge_id()
        expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
        pending = PendingCode(
            id=challenge_id,
            action=action,  # type: ignore[typeddict-item]
            code_hash=code_hash(key, challenge_id, code),
            digits=digits,
            attempts=0,
            created_at=now,
            expires_at=expires_at,
            replies={},
        )
        if decision is not None and decision.grant is not None:
            pending["person"] = decision.grant["person"]
            pending["grant"] = decision.grant["_id"]
            if (max_uses := decision.grant.get("max_uses")) is not None:
                pending["max_uses"] = max_uses
        update: dict = {"$set": {**fields, "pending": pending, "recent_requests": slots}, "$inc": {"rev": 1}}
        old = door.get("pending")
        old_status = old_code_status(old, now=now, limits=deps.limits(door)) if old else None
        if old and old_status:
            update["$push"] = {"ended": {"$each": [ended_entry(old, old_status, now)], "$slice": -KEEP_ENDED}}
        if await _stored(deps, door, update):
            break
        door = await _reread(deps, door)
    else:
        raise Unavailable("this door is busy: try again", reason="busy")
    if decision is not None and decision.reason is not None:
        await audit.record(
            deps.db, now=now, event="code_request", outcome="refused", door=door["_id"], action=action,
            reason=decision.reason, client=client, **who,
        )  # fmt: skip
        raise NotAllowed(decision.reason)

    person = requester.person if requester else None
    recipients = [person["email"]] if person else deps.recipients(door)
    # a person's own code goes by e-mail, push or both, as they chose; the two side by side
    by_mail = bool(recipients) and (person is None or push_urls.wants_mail(person))
    by_push = person is not None and push_urls.wants_push(person)
    base = {"door": door["_id"]}
    events = []
    if old and old_status == "superseded":
        events.append(
            audit.entry(
                now=now,
                event="superseded",
                outcome="info",
                action=old["action"],
                challenge=old["id"],
                person=old.get("person"),
                **base,
            )
        )
    elif old and old_status == "expired":
        events.append(expiry_event(old, now=now, **base))
    granted = {"grant": pending["grant"]} if "grant" in pending else {}
    events.append(
        audit.entry(
            now=now,
            event="code_request",
            outcome="success",
            action=action,
            client=client,
            challenge=challenge_id,
            **who,
            **granted,
            **base,
        )
    )
    if not recipients:
        delivery_error: str | None = "no recipients configured"
        events.append(
            audit.entry(
                now=now, event="mail_delivery", outcome="failure", action=action, reason=delivery_error,
                challenge=challenge_id, recipients=0, **who, **base,
            )
        )  # fmt: skip
        await audit.record_many(deps.db, events)
        return Issued(challenge_id, expires_at, digits, recipients, delivery_error)
    pushing = (
        push_deliver.push_code(deps, person=person, door_name=door["name"], action=action, code=code,
                               expires_at=expires_at)
        if by_push and person else _nothing()
    )  # fmt: skip
    if by_mail:
        message = mail_message.code_message(
            sender=settings.mail_from,
            to=recipients,
            door_name=door["name"],
            action=action,
            code=code,
            expires_at=expires_at,
            asked_by=person["name"] if person else None,
        )
        mail = code_mail(
            message, door=door["_id"], challenge=challenge_id, expires_at=expires_at,
            details={"action": action, "recipients": len(recipients), **who}, now=now,
        )  # fmt: skip
        # The door's reply waits for the mail's first attempt: its status says whether the relay took
        # it, and a mail it did not take is stored for its retries before the reply says so. The
        # request's audit events go in with that attempt's. A push is sent side by side.
        mailed, pushed = await asyncio.gather(deps.outbox.try_now(mail, now=now, audit_along=events), pushing)
        events = []
    else:
        mailed, pushed = None, await pushing
    if by_push:
        events.append(
            push_deliver.delivery_event(
                now=now, kind="code", errors=[pushed], action=action, challenge=challenge_id, **who, **base
            )
        )
    await audit.record_many(deps.db, events)
    delivery_error = "; ".join(e for e in (mailed, pushed) if e) or None
    return Issued(challenge_id, expires_at, digits, recipients, delivery_error)


async def _nothing() -> None:
    return None


def _who(requester: Requester | None) -> dict:
    """What the audit says about who asked: the person, or the number typed when it names nobody."""
    if requester is None:
        return {}
    if requester.person is None:
        return {"person": None, "keypad": requester.keypad}
    return {"person": requester.person["_id"]}


async def _stored(deps: EngineDeps, door: Door, update: dict) -> bool:
    """Applies `update` if the door is still at the revision it was read at."""
    stored = await deps.db.doors.update_one({"_id": door["_id"], "rev": door.get("rev")}, update)
    return bool(stored.modified_count)


async def _reread(deps: EngineDeps, door: Door) -> Door:
    fresh = await deps.db.doors.find_one({"_id": door["_id"]})
    if fresh is None:
        raise NotFound(f"no door {door['_id']!r}", reason="unknown_door")
    return fresh
