"""Mail the door's people about a lockout: the first one of a run of failures only (a
success or an administrator starts a new run). It goes to the door's recipients and its
watchers, after the reply: the send (bounded by MAIL_TIMEOUT_SECONDS) and its audit event run
in the background, so a slow relay does not hold up the door."""

from __future__ import annotations

from datetime import datetime

from smartdoor.access.notices import watcher_addresses
from smartdoor.audit import service as audit
from smartdoor.doors.models import Door
from smartdoor.mail import message as mail_message
from smartdoor.otp.deps import EngineDeps


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
    error = await deps.send_mail(
        mail_message.lockout_message(
            sender=deps.settings.mail_from,
            to=to,
            door_name=door["name"],
            failures=failures,
            wait_seconds=wait,
            now=now,
        )
    )
    await audit.record(
        deps.db, now=now, event="lockout_notice", outcome="failure" if error else "success", reason=error,
        door=door["_id"], recipients=len(to),
    )  # fmt: skip
