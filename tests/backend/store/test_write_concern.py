"""Which write concern the app's writes carry: journaled (j: true) unless DB_JOURNAL=false, for
the door's writes and the audit's group commit alike, through the handle the app opens."""

from __future__ import annotations

import pytest
from pymongo import monitoring

from smartdoor.runtime import open_database
from smartdoor.settings import Settings
from tests.conftest import build_settings


class WriteConcerns(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: dict[str, dict | None] = {}

    def started(self, event) -> None:
        if event.command_name in ("insert", "update", "findAndModify", "delete"):
            self.seen[event.command_name] = event.command.get("writeConcern")

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


async def writes_of(settings) -> dict[str, dict | None]:
    listener = WriteConcerns()
    monitoring.register(listener)  # applies to the clients made from now on: the one opened here
    async with open_database(settings) as db:
        await db.doors.insert_one({"_id": "d", "n": 0})
        await db.doors.update_one({"_id": "d"}, {"$inc": {"n": 1}})
        await db.doors.find_one_and_update({"_id": "d"}, {"$inc": {"n": 1}})
        await db.append_audit([{"event": "t"}])
        await db.doors.delete_one({"_id": "d"})
        await db.client.drop_database(db.db.name)
    return listener.seen


async def test_writes_are_journaled_by_default_and_not_with_db_journal_false(mongo_uri, tmp_path):
    assert Settings.model_fields["db_journal"].default is True
    journaled = await writes_of(build_settings(mongo_uri, tmp_path, None, db_journal=True))  # the default
    assert set(journaled) == {"insert", "update", "findAndModify", "delete"}
    assert all(wc is not None and wc.get("j") is True for wc in journaled.values()), journaled
    plain = await writes_of(build_settings(mongo_uri, tmp_path, None, db_journal=False))
    assert all(wc is None or not wc.get("j") for wc in plain.values()), plain


class TxnNumbers(monitoring.CommandListener):
    def __init__(self) -> None:
        self.writes: list[bool] = []  # whether each write was sent as a retryable write

    def started(self, event) -> None:
        if event.command_name in ("insert", "update", "findAndModify", "delete"):
            self.writes.append("txnNumber" in event.command)

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.mark.subprocess
async def test_the_embedded_database_gets_no_retryable_writes(tmp_path):
    # SecantusDB keeps a record of each retryable write and scans and sorts all of them on every
    # write: after a few minutes at a door's pace every write paid for it (see runtime)
    listener = TxnNumbers()
    monitoring.register(listener)  # applies to the clients made from now on: the one opened here
    async with open_database(build_settings("", tmp_path / "data", None, mongo_url=None)) as db:
        await db.doors.insert_one({"_id": "d", "n": 0})
        await db.doors.update_one({"_id": "d"}, {"$inc": {"n": 1}})
        await db.doors.find_one_and_update({"_id": "d"}, {"$inc": {"n": 1}})
        await db.append_audit([{"event": "t"}])
        assert db._client_options["retryWrites"] is False  # a client made after a restart too
    assert len(listener.writes) >= 4 and not any(listener.writes), listener.writes
