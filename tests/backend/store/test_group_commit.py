"""Group commit of audit events against the embedded database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pymongo import monitoring

from smartdoor.store.database import Database, connect


class Inserts(monitoring.CommandListener):
    def __init__(self):
        self.count = 0

    def started(self, event):
        if event.command_name == "insert":
            self.count += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@contextlib.asynccontextmanager
async def scratch_database(mongo_uri: str, name: str, **client_options) -> AsyncIterator[Database]:
    """A database of the test's own, dropped afterwards."""
    db = connect(mongo_uri, db_name=name, **client_options)
    try:
        yield db
    finally:
        await db.client.drop_database(name)
        await db.close()


async def test_concurrent_events_share_inserts_and_all_are_stored(mongo_uri):
    listener = Inserts()
    async with scratch_database(mongo_uri, "t_group_commit", event_listeners=[listener]) as db:
        await db.append_audit([{"n": -1}])  # warm the connection
        listener.count = 0
        await asyncio.gather(*(db.append_audit([{"n": i}, {"n": i, "part": 2}]) for i in range(50)))
        assert await db.audit.count_documents({"n": {"$gte": 0}}) == 100  # every event stored
        assert listener.count < 50  # fewer commands than writers
        # each caller returns only once its own events are stored
        await db.append_audit([{"n": "last"}])
        assert await db.audit.find_one({"n": "last"}) is not None


async def test_an_event_already_stored_by_an_earlier_attempt_counts_as_written(mongo_uri):
    # the database was killed after it stored a batch, before it replied; the client's retry
    # then finds the batch's ids taken (the soak's kill run answered 500 for this before)
    async with scratch_database(mongo_uri, "t_group_commit_retry") as db:
        await db.append_audit([{"_id": 1, "event": "verify"}])
        results = await asyncio.gather(
            db.append_audit([{"_id": 1, "event": "verify"}]),
            db.append_audit([{"_id": 2}]),
            db.append_audit([{"_id": 3}]),
            return_exceptions=True,
        )
        assert results == [None, None, None]
        assert sorted(await db.audit.distinct("_id")) == [1, 2, 3]  # the ones after it are not skipped


async def test_a_failed_write_reaches_every_waiter(mongo_uri):
    async with scratch_database(mongo_uri, "t_group_commit_fail") as db:
        await db.audit.create_index("k", unique=True)
        await db.append_audit([{"_id": 1, "k": 1}])
        # three writers whose events go out in one insert_many; the first breaks another unique
        # index: a real failure, not one of our own ids stored before
        results = await asyncio.gather(
            db.append_audit([{"_id": 10, "k": 1}]),
            db.append_audit([{"_id": 2, "k": 2}]),
            db.append_audit([{"_id": 3, "k": 3}]),
            return_exceptions=True,
        )
        assert all(isinstance(r, Exception) for r in results), results  # nobody is told "stored"
        assert await db.audit.find_one({"_id": 10}) is None
        # and the writer keeps working afterwards
        await db.append_audit([{"_id": 4, "k": 4}])
        assert await db.audit.find_one({"_id": 4}) is not None
