"""The history stays bounded: the retention sweeper deletes what the TTL indexes say has had its
time (audit events and offline-use records after AUDIT_RETENTION_DAYS, spent replay-ledger
entries, ended admin sessions, login throttles, set-up links, sent mail) and keeps the rest; a
backlog goes in small deletes; and the embedded database no longer runs its own sweep, which read
the whole audit trail under its global lock every minute."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import monitoring

from smartdoor.outbox import records as outbox_records
from smartdoor.store import retention
from smartdoor.store.database import connect

NOW = datetime(2037, 3, 1, 12, 0, tzinfo=UTC)


class DeleteCounter(monitoring.CommandListener):
    """How many records each delete command took."""

    def __init__(self) -> None:
        self.deleted: list[int] = []

    def started(self, event) -> None:
        pass

    def succeeded(self, event) -> None:
        if event.command_name == "delete":
            self.deleted.append(int(event.reply.get("n", 0)))

    def failed(self, event) -> None:
        pass


@pytest.fixture
async def db(mongo_uri):
    counter = DeleteCounter()
    database = connect(mongo_uri, db_name="t_ret_" + uuid.uuid4().hex[:10], event_listeners=[counter])
    database.deletes = counter  # type: ignore[attr-defined]
    await database.ensure_indexes(audit_retention_days=30)
    await outbox_records.ensure_indexes(database)
    yield database
    await database.client.drop_database(database.db.name)
    await database.close()


async def ids(collection) -> list:
    return sorted(await collection.distinct("_id"))


async def test_each_ttl_index_is_applied_and_what_is_in_time_stays(db):
    await db.audit.insert_many(
        [
            {"_id": "old", "at": NOW - timedelta(days=31), "event": "verify"},
            {"_id": "kept", "at": NOW - timedelta(days=29), "event": "verify"},
            {"_id": "new", "at": NOW, "event": "verify"},
        ]
    )
    await db.offline_uses.insert_many([{"_id": "old", "at": NOW - timedelta(days=31)}, {"_id": "kept", "at": NOW}])
    expiring = (db.nonces, db.admin_sessions, db.login_limits, db.setup_links, outbox_records.collection(db))
    for collection in expiring:
        await collection.insert_many(
            [
                {"_id": "spent", "purge_at": NOW - timedelta(seconds=1)},
                {"_id": "live", "purge_at": NOW + timedelta(hours=1)},
            ]
        )

    swept = await retention.sweep(db, now=NOW)

    assert await ids(db.audit) == ["kept", "new"]
    assert await ids(db.offline_uses) == ["kept"]
    for collection in expiring:
        assert await ids(collection) == ["live"], collection.name
    assert swept["audit.at"] == 1 and swept["nonces.purge_at"] == 1
    # the rules are the indexes', found by the sweeper: nothing listed twice in the code
    assert {rule.key for rule in await retention.rules(db)} >= {
        "audit.at", "offline_uses.at", "nonces.purge_at", "admin_sessions.purge_at", "login_limits.purge_at",
        "setup_links.purge_at", f"{outbox_records.collection(db).name}.purge_at",
    }  # fmt: skip

    # a shorter retention replaces the index, and the next sweep applies it from its watermark
    await db.ensure_indexes(audit_retention_days=1)
    await retention.sweep(db, now=NOW + timedelta(minutes=1))
    assert await ids(db.audit) == ["new"]
    assert await ids(db.offline_uses) == ["kept"]


async def test_a_backlog_goes_in_small_deletes_and_the_watermark_follows(db, monkeypatch):
    monkeypatch.setattr(retention, "PAUSE_BETWEEN_STEPS", 0)
    # a year of a busy door, one event a minute, then the retention is cut to 30 days: 11 months
    # (~480,000 events at that rate) are past it. Here one event every four hours of them, and
    # deletes of about 25 instead of 500.
    start = NOW - timedelta(days=365)
    events = [{"at": start + timedelta(hours=4 * i), "event": "verify"} for i in range(365 * 6)]
    for i in range(0, len(events), 1000):
        await db.audit.insert_many(events[i : i + 1000])
    await db.db[retention.COLLECTION].insert_one({"_id": "audit.at", "swept_to": start - timedelta(days=1)})
    db.deletes.deleted.clear()

    took = await retention.sweep_rule(db, retention.Rule("audit", "at", 30 * 86400.0), now=NOW, target=25)

    cutoff = NOW - timedelta(days=30)
    assert took == sum(1 for e in events if e["at"] < cutoff)
    assert await db.audit.count_documents({"at": {"$lt": cutoff}}) == 0
    assert await db.audit.count_documents({}) == len(events) - took
    assert len(db.deletes.deleted) > took / 100, "one long delete instead of small ones"
    assert max(db.deletes.deleted) <= 4 * 25, sorted(db.deletes.deleted)[-5:]
    mark = await db.db[retention.COLLECTION].find_one({"_id": "audit.at"})
    assert mark["swept_to"] == cutoff


async def test_a_record_written_late_with_an_old_time_is_still_taken(db):
    rule = retention.Rule("offline_uses", "at", 30 * 86400.0)
    await retention.sweep_rule(db, rule, now=NOW)  # the watermark is at NOW - 30 days
    # uploaded by a door that was offline for weeks: older than the watermark already
    await db.offline_uses.insert_one({"_id": "late", "at": NOW - timedelta(days=40)})
    await retention.sweep_rule(db, rule, now=NOW + timedelta(minutes=1))
    assert await ids(db.offline_uses) == []


async def test_two_processes_sweeping_at_once_take_everything_once(mongo_uri, db, monkeypatch):
    monkeypatch.setattr(retention, "PAUSE_BETWEEN_STEPS", 0)
    other = connect(mongo_uri, db_name=db.db.name)
    try:
        await db.nonces.insert_many([{"purge_at": NOW - timedelta(seconds=i)} for i in range(1, 3001)])
        await db.db[retention.COLLECTION].insert_one({"_id": "nonces.purge_at", "swept_to": NOW - timedelta(hours=2)})
        rule = retention.Rule("nonces", "purge_at", 0.0)
        taken = await asyncio.gather(
            retention.sweep_rule(db, rule, now=NOW, target=100), retention.sweep_rule(other, rule, now=NOW, target=100)
        )
        assert sum(taken) == 3000 and await db.nonces.count_documents({}) == 0
        mark = await db.db[retention.COLLECTION].find_one({"_id": "nonces.purge_at"})
        assert mark["swept_to"] == NOW
        # and a sweeper that starts with no watermark at all while another makes one
        await db.db[retention.COLLECTION].delete_many({})
        await asyncio.gather(*(retention.sweep(d, now=NOW) for d in (db, other, db, other)))
        assert (await db.db[retention.COLLECTION].find_one({"_id": "nonces.purge_at"}))["swept_to"] == NOW
    finally:
        await other.close()
