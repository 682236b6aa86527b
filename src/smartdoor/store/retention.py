"""Retention, applied in small steps: what is older than its collection's TTL index allows is
deleted by this sweeper, a slice of time at a time.

The TTL indexes (Database.ensure_indexes, outbox.records) are the one statement of how long each
record lives. MongoDB's own TTL monitor applies them well. The embedded database's does not: every
minute it reads and decodes every document of every collection with a TTL index, the whole audit
trail included, while holding the lock every other operation waits for; with a few hundred
thousand events that is seconds a minute in which no door is answered. So the embedded database
runs with its sweep turned off (store.embedded) and this sweeper applies the same indexes.

A delete reads what it deletes, and nothing else: SecantusDB and MongoDB alike find the records
through the TTL index's range. So the cost is bounded by bounding the slice, not the collection:
a collection's watermark (`swept_to`, kept in the database so every process and every restart
shares it) says that nothing before it is left, and each step deletes up to a moment a little
after it. The step widens while it finds little and narrows when it finds much, so a backlog (a
shortened retention, a server that was off for weeks) goes in many short deletes instead of one
long one. The sweeper runs on MongoDB too, deleting what the TTL monitor would a minute later:
one path for both.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError, PyMongoError

from smartdoor.store.database import Database

log = logging.getLogger(__name__)

COLLECTION = "retention"  # one watermark per TTL index
SWEEP_EVERY_SECONDS = 60.0
TARGET_PER_STEP = 500  # records one delete should take, about 70 ms on the embedded database
FIRST_STEP = timedelta(minutes=10)
SHORTEST_STEP, LONGEST_STEP = timedelta(seconds=1), timedelta(days=1)
PAUSE_BETWEEN_STEPS = 0.05  # seconds: a backlog's deletes leave room for the doors' requests


@dataclass(frozen=True)
class Rule:
    collection: str
    field: str
    seconds: float

    @property
    def key(self) -> str:
        return f"{self.collection}.{self.field}"


async def rules(db: Database) -> list[Rule]:
    """Every TTL index of the app's database, as MongoDB would apply it: a single field, not _id."""
    found = []
    for name in sorted(await db.db.list_collection_names()):
        if name == COLLECTION or name.startswith("system."):
            continue
        async for index in await db.db[name].list_indexes():
            seconds, keys = index.get("expireAfterSeconds"), list(index.get("key", {}))
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                continue
            if len(keys) == 1 and keys[0] != "_id":
                found.append(Rule(name, keys[0], float(seconds)))
    return found


async def sweep_rule(db: Database, rule: Rule, *, now: datetime, target: int = TARGET_PER_STEP) -> int:
    """Deletes the rule's expired records in steps; returns how many."""
    cutoff = now - timedelta(seconds=rule.seconds)
    watermarks = db.db[COLLECTION]
    mark = await watermarks.find_one({"_id": rule.key})
    if mark is None:
        # No watermark yet: a new installation, or one whose database swept by itself until now;
        # either way little is past the cutoff, and one delete takes it.
        deleted = (await db.db[rule.collection].delete_many({rule.field: {"$lt": cutoff}})).deleted_count
        await _advance(db, rule, cutoff)
        return deleted
    swept_to, step, deleted = mark["swept_to"], FIRST_STEP, 0
    while swept_to < cutoff:
        until = min(cutoff, swept_to + step)
        # `$lt until`, not a range from swept_to: a record written late with an old time (an
        # offline use uploaded days after it happened) is taken by the next step
        took = (await db.db[rule.collection].delete_many({rule.field: {"$lt": until}})).deleted_count
        deleted += took
        swept_to = until
        await _advance(db, rule, swept_to)
        if took > target:
            step = max(SHORTEST_STEP, step * (target / took))
        elif took < target // 4:
            step = min(LONGEST_STEP, step * 4)
        if swept_to < cutoff:
            await asyncio.sleep(PAUSE_BETWEEN_STEPS)
    return deleted


async def _advance(db: Database, rule: Rule, swept_to: datetime) -> None:
    # $max: two processes sweeping at once never move it back
    try:
        await db.db[COLLECTION].update_one({"_id": rule.key}, {"$max": {"swept_to": swept_to}}, upsert=True)
    except DuplicateKeyError:  # the other process's upsert made it first: now it is an update
        await db.db[COLLECTION].update_one({"_id": rule.key}, {"$max": {"swept_to": swept_to}})


async def sweep(db: Database, *, now: datetime) -> dict[str, int]:
    """One pass over every TTL index: records deleted per collection and field."""
    return {rule.key: await sweep_rule(db, rule, now=now) for rule in await rules(db)}


async def retention_sweeper(db: Database, clock, *, every_seconds: float = SWEEP_EVERY_SECONDS) -> None:
    """Runs for the app's lifetime."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await sweep(db, now=clock.now())
        except PyMongoError as exc:  # a database outage must not end the sweeper
            log.warning("retention sweep failed: %s", type(exc).__name__)
