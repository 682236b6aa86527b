"""The live audit feed: server-sent events from a MongoDB change stream on `audit` (the
embedded SecantusDB has them; a MongoDB without a replica set does not, and is polled instead).

Streams are bounded: ADMIN_MAX_LIVE_STREAMS open at once in this process, PER_PERSON per
person; more get a 429. Each stream ends after STREAM_SECONDS and the browser's EventSource
reconnects by itself, sending the id of the last event it got (Last-Event-ID): the backlog
since then comes first, so nothing is lost. That re-checks the session every few seconds
(a logout or a disabled person ends the feed), and a server shutting down waits for no
stream longer than that."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import OperationFailure, PyMongoError

from smartdoor.admin.audit_view import AuditFilter
from smartdoor.store.database import Database

STREAM_SECONDS = 20
PER_PERSON = 3
BACKLOG = 50
POLL_SECONDS = 1.0
RETRY_MS = 1000
KEEP_ALIVE_SECONDS = 10
FIELDS = ("at", "event", "outcome", "door", "person", "action", "reason", "actor", "client")
log = logging.getLogger(__name__)


class StreamSlots:
    """Counts open streams, in total and per person (one event loop owns it)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.open: dict[str, int] = {}

    def take(self, person: str) -> bool:
        if sum(self.open.values()) >= self.total or self.open.get(person, 0) >= PER_PERSON:
            return False
        self.open[person] = self.open.get(person, 0) + 1
        return True

    def release(self, person: str) -> None:
        self.open[person] -= 1
        if not self.open[person]:
            del self.open[person]


def last_event_id(value: str | None) -> ObjectId | None:
    if not value or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def sse(event: dict) -> str:
    """One event as the SSE wire format; the page's script shows it as text only."""
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in event.items() if k in FIELDS}
    return f"id: {event['_id']}\ndata: {json.dumps(data, default=str)}\n\n"


async def _changes(db: Database, flt: AuditFilter, after: ObjectId | None, deadline: float) -> AsyncIterator[dict]:
    loop = asyncio.get_running_loop()
    pipeline = [{"$match": {"operationType": "insert"}}]
    try:
        stream = await db.audit.watch(pipeline, max_await_time_ms=1000)
    except OperationFailure:  # change streams need a replica set (or SecantusDB): poll instead
        async for event in _poll(db, flt, after, deadline):
            yield event
        return
    async with stream:
        if after is not None:  # what happened since the browser's last event, before the stream opened
            for event in (
                await db.audit.find({**flt.query(), "_id": {"$gt": after}}).sort("_id", 1).limit(BACKLOG).to_list()
            ):
                yield event
        while loop.time() < deadline:
            change = await stream.try_next()
            if change is None:
                yield {}  # nothing new: lets the caller send a keep-alive and check the clock
                continue
            event = change.get("fullDocument") or {}
            if flt.matches(event):
                yield event


async def _poll(db: Database, flt: AuditFilter, after: ObjectId | None, deadline: float) -> AsyncIterator[dict]:
    loop = asyncio.get_running_loop()
    if after is None:
        newest = await db.audit.find({}, {"_id": 1}).sort("_id", -1).limit(1).to_list()
        after = newest[0]["_id"] if newest else ObjectId("0" * 24)
    while loop.time() < deadline:
        rows = await db.audit.find({**flt.query(), "_id": {"$gt": after}}).sort("_id", 1).limit(BACKLOG).to_list()
        for event in rows:
            after = event["_id"]
            yield event
        yield {}
        await asyncio.sleep(POLL_SECONDS)


async def feed(db: Database, flt: AuditFilter, *, after: ObjectId | None, release) -> AsyncIterator[str]:
    """The stream's text; `release` is called once it ends, however it ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_SECONDS
    quiet_since = loop.time()
    try:
        yield f"retry: {RETRY_MS}\n: live\n\n"
        async for event in _changes(db, flt, after, deadline):
            if event:
                quiet_since = loop.time()
                yield sse(event)
            elif loop.time() - quiet_since >= KEEP_ALIVE_SECONDS:  # proxies close silent connections
                quiet_since = loop.time()
                yield ": keep-alive\n\n"
    except PyMongoError as failed:
        log.warning("live audit feed ended: %s", type(failed).__name__)
    finally:
        with contextlib.suppress(Exception):
            release()
