"""Audit events per UTC day and outcome, for the charts, without counting past days again.

Counting reads every event counted (the embedded database decodes each one, 14 days of a busy
installation took 2.5 s), yet a past day's counts never change: every event is stamped with its
writer's clock when it is written (offline uses carry their own time in `used_at`), and
retention deletes only days older than its horizon. So the counts of a day that ended more
than SETTLE ago and is inside the retention are kept in `audit_days`, one document per filter
and day (`{_id: "<filter>|2026-11-25", day, counts: {outcome: n}}`), counted once by whichever
backend process needs them first (several processes may count the same day at once: they write
the same numbers). A chart then counts only the part of its range that is not whole, settled
days: the hours before the first whole day and the current day, about one day of events.

Only filters without a door or person are kept (the dashboard, the audit page without them, by
outcome, reason or event): a door's or person's events are found through their own index and
are few, and one document per door per day would grow without bound. The documents of days past
the retention are deleted when new ones are written. A restore empties `audit_days` with the
rest (store.backup), so its counts always are those of the trail beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from smartdoor.store.database import Database

SETTLE = timedelta(minutes=15)  # a day's events are all written this long after it ended (clocks, slow requests)
Counts = dict[str, dict[str, int]]  # {"2026-11-25": {"success": 3, "info": 1}}


async def per_day(
    db: Database,
    match: Mapping,
    *,
    since: datetime,
    until: datetime | None,
    now: datetime,
    retention_days: int | None,
) -> Counts:
    """Events matching `match` (no `at` in it) with `since <= at < until` (no until: up to the
    newest), counted per UTC day of `at` and outcome (none: "info")."""
    key = _key(match)
    first = _day_start(since, ceil=True)  # the whole, settled days: [first, last)
    last = _day_start(min(until or now, now - SETTLE), ceil=False)
    if retention_days is not None:  # a day at the horizon may be half deleted: counted each time
        first = max(first, _day_start(now - timedelta(days=retention_days - 1), ceil=True))
    if key is None or retention_days is None or first >= last:
        return await _count(db, match, since, until)
    counts = await _count(db, match, since, first)
    counts.update(await _count(db, match, last, until))
    days = [(first + timedelta(days=i)).date().isoformat() for i in range((last - first).days)]
    kept = {d["day"]: d["counts"] async for d in db.audit_days.find({"_id": {"$in": [f"{key}|{d}" for d in days]}})}
    missing = [d for d in days if d not in kept]
    for run_start, run_end in _runs(missing):
        fresh = await _count(db, match, run_start, run_end)
        counted = {
            d: fresh.get(d, {}) for d in missing if run_start.date().isoformat() <= d < run_end.date().isoformat()
        }
        await _keep(db, key, counted, horizon=now - timedelta(days=retention_days))
        kept.update(counted)
    counts.update({d: c for d, c in kept.items() if c})
    return counts


def _key(match: Mapping) -> str | None:
    if "door" in match or "person" in match:
        return None
    return json.dumps(sorted(match.items()), separators=(",", ":"))


def _day_start(t: datetime, *, ceil: bool) -> datetime:
    start = datetime.combine(t.astimezone(UTC).date(), time(), UTC)
    return start + timedelta(days=1) if ceil and start < t else start


def _runs(days: list[str]) -> list[tuple[datetime, datetime]]:
    """Consecutive days (ISO, in order) as [start, end) ranges."""
    runs: list[tuple[datetime, datetime]] = []
    for d in days:
        start = datetime.combine(date.fromisoformat(d), time(), UTC)
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + timedelta(days=1))
        else:
            runs.append((start, start + timedelta(days=1)))
    return runs


async def _count(db: Database, match: Mapping, since: datetime, until: datetime | None) -> Counts:
    if until is not None and until <= since:
        return {}
    at = {"$gte": since, **({"$lt": until} if until is not None else {})}
    pipeline = [
        {"$match": {**match, "at": at}},
        {"$group": {"_id": {"day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$at"}}, "outcome": "$outcome"},
                    "n": {"$sum": 1}}},
    ]  # fmt: skip
    counts: Counts = {}
    for row in await (await db.audit.aggregate(pipeline)).to_list():
        counts.setdefault(row["_id"]["day"], {})[row["_id"].get("outcome") or "info"] = row["n"]
    return counts


async def _keep(db: Database, key: str, counted: Counts, *, horizon: datetime) -> None:
    writes = [
        UpdateOne({"_id": f"{key}|{day}"}, {"$set": {"day": day, "counts": c}}, upsert=True)
        for day, c in counted.items()
    ]
    try:
        await db.audit_days.bulk_write(writes, ordered=False)
    except BulkWriteError as failed:  # another process kept the same day at the same moment: the same counts
        if any(e.get("code") != 11000 for e in failed.details.get("writeErrors", [])):
            raise
    await db.audit_days.delete_many({"day": {"$lt": horizon.date().isoformat()}})
