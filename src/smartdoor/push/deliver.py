"""Pushing a message to people: each person's sealed URL opened, the sends made side by side,
each bounded by PUSH_TIMEOUT_SECONDS. The audit gets one `push_delivery` event per message
(how many people, how many failed, the first reason), never a URL."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime

from smartdoor.audit import service as audit
from smartdoor.crypto import Unsealable
from smartdoor.otp.deps import EngineDeps
from smartdoor.push import messages, urls
from smartdoor.push.messages import PushMessage

UNREADABLE = "push URL unreadable (sealed under another SECRET_KEY): set it again"


async def push_to(deps: EngineDeps, *, people: Sequence[Mapping], message: PushMessage) -> list[str | None]:
    """One outcome per person, in order: None when delivered, else a short reason."""

    async def one(person: Mapping) -> str | None:
        try:
            url = urls.open_url(deps.keyring, person["_id"], person["push_url"])
        except (Unsealable, KeyError):
            return UNREADABLE
        return await deps.pusher.send(url, title=message.title, body=message.body)

    return list(await asyncio.gather(*(one(p) for p in people)))


def delivery_event(*, now: datetime, kind: str, errors: list[str | None], **details) -> dict:
    """The audit event of one message pushed to len(errors) people."""
    failed = [e for e in errors if e]
    return audit.entry(
        now=now, event="push_delivery", outcome="failure" if failed else "success", kind=kind,
        reason=failed[0] if failed else None, recipients=len(errors), failed=len(failed), **details,
    )  # fmt: skip


async def push_notice(
    deps: EngineDeps, *, people: Sequence[Mapping], message: PushMessage, kind: str, door: str, now: datetime, **details
) -> None:
    """A notice (nobody waits for it): pushed, then audited."""
    if not people:
        return
    errors = await push_to(deps, people=people, message=message)
    await audit.record_many(deps.db, [delivery_event(now=now, kind=kind, errors=errors, door=door, **details)])


async def push_code(
    deps: EngineDeps, *, person: Mapping, door_name: str, action: str, code: str, expires_at: datetime
) -> str | None:
    """A person's code, pushed while the door waits (like its mail): None when delivered."""
    message = messages.code_push(
        door_name=door_name, action=action, code=code, expires_at=expires_at, asked_by=person.get("name")
    )
    (error,) = await push_to(deps, people=[person], message=message)
    return error
