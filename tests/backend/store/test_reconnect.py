"""Database.reconnect: the handle the whole app holds moves to a database at a new address; an
operation already under way on the old client fails as a connection error (a 503), never as a
closed client's InvalidOperation (a 500); the old client is closed after its grace. And a pooled
connection is let go before the database closes it for idleness, so no write meets a dead one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, ConnectionFailure, InvalidOperation
from secantus.server import SecantusDBServer

from smartdoor.store import database, embedded, embedded_process
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


def database_closing_idle_connections_after(seconds: float, storage: Path) -> SecantusDBServer:
    server = SecantusDBServer("127.0.0.1", 0, str(storage), client_idle_timeout_s=seconds, ttl_sweep_seconds=0)
    server.start()
    return server


@pytest.mark.parametrize("closes_idle_first", [True, False])
async def test_a_connection_the_database_closed_for_idleness_is_not_used(tmp_path, closes_idle_first):
    # the product's proportion: the pool lets an idle connection go before the database does
    assert database.MAX_IDLE_MS / 1000 < embedded_process.CLIENT_IDLE_TIMEOUT_S
    server = database_closing_idle_connections_after(1.0, tmp_path / "db")
    uri = f"mongodb://127.0.0.1:{server.port}/?directConnection=true"
    max_idle_ms = 500 if closes_idle_first else 60_000
    db = connect(uri, db_name="t_idle", retryWrites=False, maxIdleTimeMS=max_idle_ms, operation_timeout_ms=5000)
    try:
        # a burst opens several pooled connections (as a database pause does); then all go idle
        await asyncio.gather(*(db.doors.insert_one({}) for _ in range(8)))
        await asyncio.sleep(1.6)  # the database has closed them
        writes = asyncio.gather(*(db.doors.insert_one({}) for _ in range(8)))
        if closes_idle_first:
            await writes
        else:  # what a door got, as a 503: the pool handed out a connection the database had closed
            with pytest.raises(AutoReconnect):
                await writes
    finally:
        await db.close()
        server.stop()
