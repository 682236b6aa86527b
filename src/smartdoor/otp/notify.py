"""Mail the door's people about a lockout: the first one of a run of failures only (a
success or an administrator starts a new run). It goes to the door's recipients and its
watchers (by e-mail or push, as each watcher chose), after the reply: the mail goes through the
outbox in the background (the first attempt bounded by MAIL_TIMEOUT_SECONDS, retries for an hour,
an audit event per attempt) and the push beside it (bounded by PUSH_TIMEOUT_SECONDS), so a slow
relay does not hold up the door and a relay that is down gets it later."""

from __future__ import annotations

import asyncio
from datetime import datetime

from smartdoor.access.notices import watching
from smartdoor.doors.models import Door
from smartdoor.mail import message as mail_message
from smartdoor.otp.deps import EngineDeps
from smartdoor.outbox.mail import notice_mail
from smartdoor.push import deliver as push_deliver
from smartdoor.push import messages as push_messages
from smartdoor.push import urls as push_urls


async def first_lockout(deps: EngineDeps, *, door: Door, failures: int, wait: int, now: datetime) -> None:
    """Claims the notice for this run (one conditional update) and sends it in the background."""
    if not deps.recipients(door) and not door.get("watchers"):
        return
    first = await deps.db.doors.update_one(
        {"_id": door["_id"], "lockout_notified": {"$ne": True}}, {"$set": {"lockout_notified": True}}
    )
    if first.modified_count:
        deps.background.spawn(_send(deps, door=door, failures=failures, wait=wait, now=now))


async def _send(deps: EngineDeps, *, door: Door, failures: int, wait: int, now: datetime) -> None:
    watchers = await watching(deps, door)
    to = list(dict.fromkeys([*deps.recipients(door), *(p["email"] for p in watchers if push_urls.wants_mail(p))]))
    pushed_to = [p for p in watchers if push_urls.wants_push(p)]
    await asyncio.gather(
        _mail(deps, door=door, to=to, failures=failures, wait=wait, now=now),
        push_deliver.push_notice(
            deps, people=pushed_to, kind="lockout_notice", door=door["_id"], now=now,
            message=push_messages.lockout_push(door_name=door["name"], failures=failures, wait_seconds=wait, now=now),
        ),
    )  # fmt: skip


async def _mail(deps: EngineDeps, *, door: Door, to: list[str], failures: int, wait: int, now: datetime) -> None:
    if not to:
        return
    message = mail_message.lockout_message(
        sender=deps.settings.mail_from, to=to, door_name=door["name"], failures=failures, wait_seconds=wait, now=now
    )
    mail = notice_mail(message, kind="lockout_notice", door=door["_id"], now=now, details={"recipients": len(to)})
    await deps.outbox.post(mail, now=now)
