"""Backup and restore: one moment across collections while writes go on, a private file, damaged
files refused; and end to end through the real `smartdoor` commands: a backup taken while the
server runs, restored into an empty DATA_DIR, where the door's signed requests verify and the
audit is the same."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smartdoor.clock import SystemClock
from smartdoor.store import backup as backups
from smartdoor.store.database import connect
from tests.backend.store.test_supervision import Serve, serve_env
from tests.conftest import TEST_SECRET_KEY, SignedDevice, code_in

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
async def scratch_db(mongo_uri):
    db = connect(mongo_uri, db_name="t_" + uuid.uuid4().hex[:12])
    yield db
    await db.client.drop_database(db.db.name)
    await db.close()


@pytest.mark.slow  # backups are repeated until writes overlapped one well
async def test_a_backup_is_one_moment_across_collections_while_writes_go_on(scratch_db, mongo_uri, tmp_path):
    # each step writes one document to "pairs_a", then its twin to "pairs_b": at any one moment
    # b holds as many as a or one fewer. The backup reads a first, then b, while the steps go on.
    db = scratch_db
    await db.db.pairs_a.insert_many([{"_id": i, "pad": "x" * 200} for i in range(3000)])
    await db.db.pairs_b.insert_many([{"_id": i, "pad": "x" * 200} for i in range(3000)])
    await db.db.nonces.insert_one({"_id": "n", "purge_at": NOW})
    await db.db.admin_sessions.insert_one({"_id": "s", "purge_at": NOW})
    writing = asyncio.Event()
    stop = asyncio.Event()
    # the steps race the backup as fast as they can: unjournaled, since a sync per write would
    # leave few of them overlapping a backup, and their durability is not what is tested here
    racing = connect(mongo_uri, db_name=db.db.name, journal=False)

    async def steps():
        i = 3000
        while not stop.is_set():
            await racing.db.pairs_a.insert_one({"_id": i})
            await racing.db.pairs_b.insert_one({"_id": i})
            i += 1
            writing.set()

    writer = asyncio.create_task(steps())
    await writing.wait()
    overlapped = 0  # writes made while a backup ran, over all the backups so far
    try:
        for _ in range(40):  # until writes overlapped the backups well (a busy machine may give few each)
            before = await db.db.pairs_a.count_documents({})
            summary = await backups.write_backup(db, tmp_path / "b.jsonl.gz", now=NOW, app_version="t", key_id="k")
            overlapped += await db.db.pairs_a.count_documents({}) - before
            if summary.consistency != "snapshot":
                pytest.skip("this database (MONGO_URL) has no transactions: per-collection backup")
            a, b = summary.counts["pairs_a"], summary.counts["pairs_b"]
            assert a - 1 <= b <= a, (a, b)  # every backup, however the writes fell
            if overlapped > 5:
                break
    finally:
        stop.set()
        await writer
        await racing.close()
    assert overlapped > 5, "the writes never overlapped a backup"
    assert "nonces" not in summary.counts and "admin_sessions" not in summary.counts  # short-lived: not backed up
    found = backups.read_backup(tmp_path / "b.jsonl.gz")
    assert found.counts == {"pairs_a": a, "pairs_b": b}
    assert found.header["created_at"] == NOW and found.header["consistency"] == "snapshot"


async def test_the_file_is_private_and_a_damaged_one_is_refused(scratch_db, tmp_path):
    db = scratch_db
    await db.audit.insert_one({"at": NOW, "event": "t", "n": 2**40, "raw": b"\x00\x01"})
    path = tmp_path / "b.jsonl.gz"
    path.write_bytes(b"an older backup")
    os.chmod(path, 0o644)
    await backups.write_backup(db, path, now=NOW, app_version="t", key_id="k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # replaced by a file private from its first byte
    assert [p.name for p in tmp_path.iterdir()] == ["b.jsonl.gz"]  # no temporary left
    found = backups.read_backup(path)
    [(name, event)] = list(found.documents())
    assert name == "audit" and event["n"] == 2**40 and event["raw"] == b"\x00\x01" and event["at"] == NOW

    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b"".join(lines[:-1])))
    with pytest.raises(backups.BackupError, match="cut off"):
        backups.read_backup(cut)
    cut.write_bytes(gzip.compress(b"".join(lines)[:-30]))
    with pytest.raises(backups.BackupError, match="cannot be read"):
        backups.read_backup(cut)
    other = tmp_path / "other.jsonl.gz"
    other.write_bytes(gzip.compress(json.dumps({"format": "something else"}).encode()))
    with pytest.raises(backups.BackupError, match="not a Smart Door backup"):
        backups.read_backup(other)
    newer = json.loads(lines[0]) | {"version": 99}
    other.write_bytes(gzip.compress(json.dumps(newer).encode() + b"\n" + b"".join(lines[1:])))
    with pytest.raises(backups.BackupError, match="version 99"):
        backups.read_backup(other)
    with pytest.raises(backups.BackupError, match="cannot write"):
        await backups.write_backup(db, tmp_path / "missing" / "b.gz", now=NOW, app_version="t", key_id="k")


def smartdoor(env: dict, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "smartdoor.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


async def unlock(device: SignedDevice, sink, mails_before: int) -> None:
    request = await device.request_code()
    assert request.status_code == 200, request.text
    code = code_in(sink.wait_for(mails_before + 1)[0])
    verify = await device.verify(request.json()["challenge_id"], code)  # the reply's signature is checked
    assert verify.status_code == 200 and verify.json()["status"] == "success", verify.text


@pytest.mark.subprocess
async def test_round_trip_a_restored_installation_verifies_the_door_and_shows_the_same_audit(tmp_path, smtp_sink):
    controller, sink = smtp_sink
    original = Serve(tmp_path / "original", controller.port)
    backup_file = tmp_path / "door-backup.jsonl.gz"
    try:
        await original.wait_connected(90)
        added = json.loads(smartdoor(original.env, "door", "add", "Front door", "--recipient", "alice@example.com",
                                     "--json", cwd=tmp_path).stdout)  # fmt: skip
        smartdoor(original.env, "person", "add", "Alice", "--email", "alice@example.com", cwd=tmp_path)
        async with httpx.AsyncClient(base_url=original.url, timeout=30) as http:
            await unlock(SignedDevice(http, added["id"], added["secret"], SystemClock()), sink, 0)
        audit_before = smartdoor(original.env, "audit", "--format", "jsonl", cwd=tmp_path).stdout
        made = smartdoor(original.env, "backup", str(backup_file), cwd=tmp_path)  # shares the running database
        assert "(snapshot)" in made.stdout
    finally:
        original.stop()
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    header = backups.read_backup(backup_file).header
    assert header["format"] == "smartdoor-backup" and header["version"] == 1 and header["app_version"]
    assert "SECRET_KEY" in header["note"] and header["created_at"].tzinfo is not None
    assert added["secret"] not in gzip.decompress(backup_file.read_bytes()).decode()  # sealed, never plain

    restored_dir = tmp_path / "restored"  # a new machine: an empty DATA_DIR, the same SECRET_KEY
    restored_dir.mkdir()
    env = serve_env(restored_dir / "data", controller.port)
    refused = smartdoor({**env, "SECRET_KEY": "w" * 64}, "restore", str(backup_file), cwd=restored_dir, check=False)
    assert refused.returncode == 1 and "another SECRET_KEY" in refused.stderr
    assert not (restored_dir / "data").exists()  # refused before anything was made
    assert "restored" in smartdoor(env, "restore", str(backup_file), cwd=restored_dir).stdout
    again = smartdoor(env, "restore", str(backup_file), cwd=restored_dir, check=False)
    assert again.returncode == 1 and "--force" in again.stderr
    smartdoor(env, "restore", str(backup_file), "--force", cwd=restored_dir)

    audit_after = smartdoor(env, "audit", "--format", "jsonl", cwd=restored_dir).stdout
    events = [json.loads(line) for line in audit_after.splitlines()]
    assert [e for e in events if e["event"] != "backup_restored"] == [
        json.loads(line) for line in audit_before.splitlines()
    ]
    # --force replaced everything, the first restore's event too; the restore that stands is in the audit
    [restore_event] = [e for e in events if e["event"] == "backup_restored"]
    assert restore_event["replaced"] is True and restore_event["outcome"] == "info"
    people = json.loads(smartdoor(env, "person", "list", "--json", cwd=restored_dir).stdout)
    assert [p["email"] for p in people] == ["alice@example.com"]

    serving = Serve(restored_dir, controller.port)
    try:
        await serving.wait_connected(90)
        async with httpx.AsyncClient(base_url=serving.url, timeout=30) as http:
            device = SignedDevice(http, added["id"], added["secret"], SystemClock())
            await unlock(device, sink, 1)
            state = await device.post("/api/v1/state", {"state": "unlocked"})
            assert state.status_code == 200
    finally:
        serving.stop()
    assert TEST_SECRET_KEY not in audit_after
