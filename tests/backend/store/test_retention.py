"""The database itself keeps the history bounded: the TTL indexes ensure_indexes makes purge
audit events (and offline-use records) older than AUDIT_RETENTION_DAYS, spent replay-ledger entries, ended admin
sessions, login throttles and set-up links, while what is still within its time stays.

A SecantusDB server of its own runs the TTL sweep every second here (the embedded database and
MongoDB sweep every 60 s), so the test waits for a real sweep instead of calling one."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from smartdoor.store.database import connect
from tests.backend.store.database_server import DatabaseServer

pytestmark = pytest.mark.subprocess

SWEEP_TIMEOUT = 60  # generous: the sweep runs every second


async def test_the_database_purges_old_audit_and_spent_records(tmp_path):
    server = DatabaseServer(tmp_path / "db", ttl_sweep_seconds=1)
    await server.start()
    db = connect(server.uri, db_name="t_retention")
    try:
        await db.ensure_indexes(audit_retention_days=30)
        now = datetime.now(UTC)
        await db.audit.insert_many(
            [
                {"_id": "old", "at": now - timedelta(days=31), "event": "verify"},
                {"_id": "kept", "at": now - timedelta(days=29), "event": "verify"},
                {"_id": "new", "at": now, "event": "verify"},
            ]
        )
        await db.offline_uses.insert_many(
            [{"_id": "old", "at": now - timedelta(days=31)}, {"_id": "kept", "at": now - timedelta(days=29)}]
        )
        spent, live = now - timedelta(seconds=1), now + timedelta(hours=1)
        for collection in (db.nonces, db.admin_sessions, db.login_limits, db.setup_links):
            await collection.insert_many([{"_id": "spent", "purge_at": spent}, {"_id": "live", "purge_at": live}])

        deadline = time.monotonic() + SWEEP_TIMEOUT
        while await db.audit.count_documents({"_id": "old"}) or await db.setup_links.count_documents({"_id": "spent"}):
            assert time.monotonic() < deadline, "the database did not purge in time"
            await asyncio.sleep(0.2)
        assert sorted(await db.audit.distinct("_id")) == ["kept", "new"]
        while await db.offline_uses.count_documents({"_id": "old"}):  # the same retention
            assert time.monotonic() < deadline, "offline uses not purged in time"
            await asyncio.sleep(0.2)
        assert await db.offline_uses.distinct("_id") == ["kept"]
        for collection in (db.nonces, db.admin_sessions, db.login_limits, db.setup_links):
            # one sweep covers every collection; wait for the others' turn in it too
            while await collection.count_documents({"_id": "spent"}):
                assert time.monotonic() < deadline, f"{collection.name} not purged in time"
                await asyncio.sleep(0.2)
            assert await collection.distinct("_id") == ["live"], collection.name

        # a shorter retention replaces the index, and the sweep applies it
        await db.ensure_indexes(audit_retention_days=1)
        deadline = time.monotonic() + SWEEP_TIMEOUT
        while await db.audit.count_documents({"_id": "kept"}):
            assert time.monotonic() < deadline, "the changed retention was not applied in time"
            await asyncio.sleep(0.2)
        assert await db.audit.distinct("_id") == ["new"]
        await db.client.drop_database("t_retention")
    finally:
        await db.close()
        server.stop()
