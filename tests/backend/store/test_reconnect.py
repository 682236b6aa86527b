"""Database.reconnect: the handle the whole app holds moves to a database at a new address; an
operation already under way on the old client fails as a connection error (a 503), never as a
closed client's InvalidOperation (a 500); the old client is closed after its grace."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import ConnectionFailure, InvalidOperation

from smartdoor.store import embedded
from smartdoor.store.database import connect

pytestmark = pytest.mark.subprocess


async def test_the_handle_follows_the_database_to_a_new_port(tmp_path):
    first = await asyncio.to_thread(embedded.start_or_share, tmp_path / "first")
    second = await asyncio.to_thread(embedded.start_or_share, tmp_path / "second")
    db = connect(first.uri, db_name="t_reconnect", operation_timeout_ms=1000)
    try:
        await db.doors.insert_one({"_id": "on-first"})
        await db.append_audit([{"event": "on-first"}])
        old_client, old_doors = db.client, db.doors  # what a request under way holds
        first.stop()
        await db.reconnect(second.uri, grace_seconds=3.0)
        assert db.client is not old_client and db.db.name == "t_reconnect"
        with pytest.raises(ConnectionFailure):  # the 503 family, not InvalidOperation
            await old_doors.find_one({})
        await db.doors.insert_one({"_id": "on-second"})
        await db.append_audit([{"event": "on-second"}])  # the group writer follows the handle too
        assert [d["_id"] async for d in db.doors.find({})] == ["on-second"]
        assert [e["event"] async for e in db.audit.find({})] == ["on-second"]
        await asyncio.sleep(3.5)  # the grace is over: the old client is closed
        with pytest.raises(InvalidOperation):
            await old_doors.find_one({})
        await db.client.drop_database("t_reconnect")
    finally:
        await db.close()
        first.stop()
        second.stop()
