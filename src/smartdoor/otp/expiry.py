"""Codes nobody typed in time still get their audit event: a sweeper moves overdue pending
codes to the door's ended list (once, whoever notices first: the sweeper, a verify or a new
code request)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from pymongo.errors import PyMongoError

from smartdoor.audit import service as audit
from smartdoor.doors.models import PendingCode
from smartdoor.doors.pending import end_pending, end_status
from smartdoor.store.database import Database

log = logging.getLogger(__name__)


def expiry_event(pending: PendingCode, *, now: datetime, door: str, **details) -> dict:
    """The audit event of a code nobody used in time (written once, by whoever ends it). `details`
    add to it (a verify's client, and the person it already names: the code's own person)."""
    return audit.entry(
        now=now,
        event="expiry",
        outcome="info",
        door=door,
        action=pending["action"],
        reason="not used in time",
        challenge=pending["id"],
        **{"person": pending.get("person"), **details},
    )


async def expire_overdue(db: Database, *, now: datetime, max_attempts: int, limit: int = 500) -> int:
    """Returns how many expiries it audited. A conditional update per door, so several
    backend processes sweeping at once never double-count."""
    overdue = await db.doors.find({"pending.expires_at": {"$lte": now}}, {"pending": 1}).limit(limit).to_list()
    events = []
    for door in overdue:
        pending = door["pending"]
        status = end_status(pending, now=now, max_attempts=max_attempts) or "expired"
        moved = await db.doors.update_one(
            {"_id": door["_id"], "pending.id": pending["id"]}, end_pending(pending, status, now)
        )
        if moved.modified_count and status == "expired":  # a burn was audited when it happened
            events.append(expiry_event(pending, now=now, door=door["_id"]))
    await audit.record_many(db, events)
    return len(events)


async def expiry_sweeper(db: Database, clock, *, max_attempts: int, every_seconds: float = 30) -> None:
    """Runs for the app's lifetime."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await expire_overdue(db, now=clock.now(), max_attempts=max_attempts)
        except PyMongoError as exc:  # a database outage must not end the sweeper
            log.warning("expiry sweep failed: %s", type(exc).__name__)
