"""The embedded database runs as smartdoor needs it: without its own TTL sweep and without its
test commands, and without a read snapshot left open after start-up, which pinned WiredTiger's
oldest transaction for the life of the process so that no deleted record's space was reused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from smartdoor.store import embedded
from smartdoor.store.embedded_process import build_server

WRITES = 400


def test_the_server_has_no_ttl_sweep_and_no_test_commands(tmp_path):
    server = build_server(port=0, storage_path=str(tmp_path / "db"), cache_mb=64)
    try:
        assert server.enable_test_commands is False
        # SecantusDB 0.7.0b3 internals (pinned): the sweep is a thread started with the storage
        assert server.storage._ttl_thread is None
    finally:
        server.stop()


def pinned_transactions(storage: Path) -> list[int]:
    """WiredTiger's 'transaction range of IDs currently pinned', one figure a second, from the
    statistics log that WIREDTIGER_CONFIG asks the database process for."""
    figures = []
    for log in storage.glob("WiredTigerStat.*"):
        for line in log.read_text().splitlines():
            figures.append(json.loads(line)["wiredTiger"]["transaction"]["transaction range of IDs currently pinned"])
    return figures


@pytest.mark.subprocess
def test_no_transaction_stays_pinned_while_records_are_written_and_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("WIREDTIGER_CONFIG", "statistics=(fast),statistics_log=(wait=1,json=true)")
    server = embedded.start_or_share(tmp_path)
    try:
        client: MongoClient = MongoClient(server.uri, retryWrites=False)
        try:
            with pytest.raises(OperationFailure):  # no fail points for anyone who gets in
                client.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn"})
            records = client.pin_check.records
            for i in range(WRITES):
                records.insert_one({"_id": i})
                records.delete_one({"_id": i - 10})
        finally:
            client.close()
        written = len(pinned_transactions(tmp_path / "db"))
        deadline = time.monotonic() + 30
        while len(pinned_transactions(tmp_path / "db")) < written + 2:
            assert time.monotonic() < deadline, "no statistics from the database"
            time.sleep(0.2)
        # each write is a transaction; a snapshot held since start-up would pin all 800 of them
        assert pinned_transactions(tmp_path / "db")[-1] < WRITES // 4
    finally:
        server.stop()
