"""How the app's writes are sent, through the handle the app opens: journaled (j: true) unless
DB_JOURNAL=false, for the door's writes and the audit's group commit alike; and never as
retryable writes to the embedded database."""

from __future__ import annotations

import pytest
from pymongo import monitoring

from smartdoor.runtime import open_database
from smartdoor.settings import Settings
from tests.conftest import build_settings

WRITES = ("insert", "update", "findAndModify", "delete")


class Writes(monitoring.CommandListener):
    """The write commands as they were sent."""

    def __init__(self) -> None:
        self.commands: list[dict] = []

    def started(self, event) -> None:
        if event.command_name in WRITES:
            self.commands.append({"name": event.command_name, **event.command})

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


async def writes_of(settings) -> tuple[list[dict], dict]:
    """The app's kinds of write through the handle the app opens: the commands sent, and the
    options the handle makes its clients with (also after a restart of the database)."""
    listener = Writes()
    monitoring.register(listener)  # applies to the clients made from now on: the one opened here
    async with open_database(settings) as db:
        await db.doors.insert_one({"_id": "d", "n": 0})
        await db.doors.update_one({"_id": "d"}, {"$inc": {"n": 1}})
        await db.doors.find_one_and_update({"_id": "d"}, {"$inc": {"n": 1}})
        await db.append_audit([{"event": "t"}])
        await db.doors.delete_one({"_id": "d"})
        await db.client.drop_database(db.db.name)
        options = dict(db._client_options)
    return listener.commands, options


def write_concerns(commands: list[dict]) -> dict[str, dict | None]:
    return {c["name"]: c.get("writeConcern") for c in commands}


async def test_writes_are_journaled_by_default_and_not_with_db_journal_false(mongo_uri, tmp_path):
    assert Settings.model_fields["db_journal"].default is True
    journaled = write_concerns((await writes_of(build_settings(mongo_uri, tmp_path, None, db_journal=True)))[0])
    assert set(journaled) == {"insert", "update", "findAndModify", "delete"}
    assert all(wc is not None and wc.get("j") is True for wc in journaled.values()), journaled
    plain = write_concerns((await writes_of(build_settings(mongo_uri, tmp_path, None, db_journal=False)))[0])
    assert all(wc is None or not wc.get("j") for wc in plain.values()), plain


@pytest.mark.subprocess
async def test_the_embedded_database_gets_no_retryable_writes(tmp_path):
    # SecantusDB keeps a record of each retryable write and scans and sorts all of them on every
    # write: after a few minutes at a door's pace every write paid for it (see runtime)
    commands, options = await writes_of(build_settings("", tmp_path / "data", None, mongo_url=None))
    assert options["retryWrites"] is False  # a client made after a restart too
    retryable = [("txnNumber" in c) for c in commands]
    assert len(retryable) >= 4 and not any(retryable), retryable
