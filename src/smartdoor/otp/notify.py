"""Mail the door's people about a lockout: the first one of a run of failures only (a
success or an administrator starts a new run). It goes to the door's recipients and its
watchers, after the reply: it goes through the outbox in the background (the first attempt
bounded by MAIL_TIMEOUT_SECONDS, retries for an hour, an audit event per attempt), so a slow
relay does not hold up the door and a relay that is down gets it later."""

from __future__ import annotations

from datetime import datetime

from smartdoor.access.notices import watcher_addresses
from smartdoor.doors.models import Door
from smartdoor.mail import message as mail_message
from smartdoor.otp.deps import EngineDeps
from smartdoor.outbox.mail import notice_mail


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
    to = list(dict.fromkeys([*deps.recipients(door), *await watcher_addresses(deps, door)]))
    if not to:
        return
    message = mail_message.lockout_message(
        sender=deps.settings.mail_from, to=to, door_name=door["name"], failures=failures, wait_seconds=wait, now=now
    )
    mail = notice_mail(message, kind="lockout_notice", door=door["_id"], now=now, details={"recipients": len(to)})
    await deps.outbox.post(mail, now=now)
