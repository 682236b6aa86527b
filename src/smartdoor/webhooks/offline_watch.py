"""Noticing that a door went offline: no signed state report within doors.presence.ONLINE_WITHIN
(two missed heartbeats). Nothing arrives to say so, so a task looks every WATCH_SECONDS and
writes one `door_offline` audit event per silence (which the webhooks hear through the audit
tap). `offline_reported_for` on the door holds the `state_at` of the silence already reported:
the conditional update that sets it is won by one backend process, and a door that reports
again and falls silent again has a new `state_at`, so it is reported again. Runs only when
webhooks are configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from smartdoor.audit import service as audit
from smartdoor.doors.presence import online_since
from smartdoor.store.database import Database

log = logging.getLogger(__name__)
WATCH_SECONDS = 30.0


async def report_offline_doors(db: Database, *, now: datetime) -> int:
    """One look: audits each door newly silent; returns how many."""
    silent = await db.doors.find(
        {"state_at": {"$lt": online_since(now)}}, {"state_at": 1, "offline_reported_for": 1}
    ).to_list()
    reported = 0
    for door in silent:
        if door.get("offline_reported_for") == door["state_at"]:
            continue  # this silence is told already
        claimed = await db.doors.update_one(
            {"_id": door["_id"], "state_at": door["state_at"], "offline_reported_for": {"$ne": door["state_at"]}},
            {"$set": {"offline_reported_for": door["state_at"]}},
        )
        if claimed.modified_count:
            reported += 1
            await audit.record(
                db, now=now, event="door_offline", outcome="info", door=door["_id"], last_seen=door["state_at"]
            )
    return reported


async def watch_offline_doors(db: Database, clock, *, every: float = WATCH_SECONDS) -> None:
    """For the app's lifetime (cancelled when it stops)."""
    while True:
        with contextlib.suppress(Exception):  # an outage must not end the task: the next look catches up
            await report_offline_doors(db, now=clock.now())
        await asyncio.sleep(every)
