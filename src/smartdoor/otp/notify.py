"""Mail the door's people about a lockout: the first one of a run of failures only (a
success or an administrator starts a new run)."""

from __future__ import annotations

from datetime import datetime

from smartdoor.audit import service as audit
from smartdoor.doors.models import Door
from smartdoor.mail import message as mail_message
from smartdoor.otp.deps import EngineDeps


async def first_lockout(deps: EngineDeps, *, door: Door, failures: int, wait: int, now: datetime) -> list[dict]:
    """Sends the notice if nobody has for this run yet; returns the audit events to record."""
    recipients = deps.recipients(door)
    if not recipients:
        return []
    first = await deps.db.doors.update_one(
        {"_id": door["_id"], "lockout_notified": {"$ne": True}}, {"$set": {"lockout_notified": True}}
    )
    if not first.modified_count:
        return []
    error = await deps.send_mail(
        mail_message.lockout_message(
            sender=deps.settings.mail_from,
            to=recipients,
            door_name=door["name"],
            failures=failures,
            wait_seconds=wait,
            now=now,
        )
    )
    return [
        audit.entry(
            now=now,
            event="lockout_notice",
            outcome="failure" if error else "success",
            reason=error,
            door=door["_id"],
        )
    ]
