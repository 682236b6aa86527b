"""Rotating SECRET_KEY: every door's secrets re-sealed, atomically per door, safe to re-run
after an interruption, pending codes still working under the new key alone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from smartdoor.crypto import Keyring, code_hash
from smartdoor.doors.rotation import rotate_server_key
from tests.conftest import SignedDevice

OLD = "old-" + "o" * 40
NEW = "new-" + "n" * 40


async def _door_with_shared_code_key(h, name: str):
    """A door as made before doors had a code key of their own, with a pending code hashed
    under the shared key of the current SECRET_KEY."""
    device = await h.add_door(name)
    cid, code = "c" * 22, "246810"
    pending = {
        "id": cid, "action": "unlock", "digits": 6, "attempts": 0, "replies": {},
        "code_hash": code_hash(Keyring(OLD.encode()).shared_code_keys()[0], cid, code),
        "created_at": h.clock.now(), "expires_at": h.clock.now() + timedelta(seconds=120),
    }  # fmt: skip
    await h.db.doors.update_one(
        {"_id": device.door_id}, {"$unset": {"sealed_code_key": 1}, "$set": {"pending": pending}}
    )
    return device, cid, code


async def test_rotation_keeps_doors_and_pending_codes_working(make_harness, monkeypatch):
    async with make_harness(secret_key=OLD, keep_db=True) as before:
        modern = await before.add_door("Front")
        cid1 = (await modern.request_code()).json()["challenge_id"]
        code1 = before.latest_code(1)
        old_style, cid2, code2 = await _door_with_shared_code_key(before, "Back")
        db_name = before.settings.mongo_db
        keyring = Keyring(NEW.encode(), OLD.encode())

        # interrupted after the first door: the second update fails
        real_update = before.db.doors.update_one
        calls = []

        async def failing_update(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise ConnectionError("interrupted")
            return await real_update(*args, **kwargs)

        monkeypatch.setattr(type(before.db.doors), "update_one", lambda self, *a, **k: failing_update(*a, **k))
        with pytest.raises(ConnectionError):
            await rotate_server_key(before.db, keyring=keyring)
        monkeypatch.undo()
        report = await rotate_server_key(before.db, keyring=keyring)  # run again
        assert len(report.rotated) == 1 and len(report.already) == 1 and not report.unsealable
        again = await rotate_server_key(before.db, keyring=keyring)
        assert len(again.already) == 2 and not again.rotated

    async with make_harness(secret_key=NEW, mongo_db=db_name, keep_db=True) as after:  # the new key alone
        for device, cid, code in ((modern, cid1, code1), (old_style, cid2, code2)):
            door = SignedDevice(after.http, device.door_id, device.key.hex(), after.clock)
            r = await door.verify(cid, code)
            assert r.status_code == 200 and r.json()["action"] == "unlock", r.text

    async with make_harness(secret_key=OLD, mongo_db=db_name) as stale:  # the old key no longer opens them
        door = SignedDevice(stale.http, modern.door_id, modern.key.hex(), stale.clock)
        r = await door.request_code(check_reply=False)
        assert r.status_code == 401 and r.json()["error"] == "unknown_door"


@pytest.mark.subprocess
def test_rotate_key_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "MONGO_", "SECRET_KEY"))}
    env.update(DATA_DIR=str(tmp_path / "data"), SECRET_KEY=OLD)
    cli = [sys.executable, "-m", "smartdoor.cli"]
    subprocess.run([*cli, "door", "add", "Front"], env=env, check=True, capture_output=True, timeout=120)
    env.update(SECRET_KEY=NEW)
    wrong = subprocess.run([*cli, "rotate-key"], env=env, input="not-the-old-key\n", capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert wrong.returncode == 1 and "sealed under neither key" in wrong.stderr
    env.update(SECRET_KEY_OLD=OLD)
    ok = subprocess.run([*cli, "rotate-key"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "re-sealed 1 door(s)" in ok.stdout, ok.stderr
    assert OLD not in ok.stdout + ok.stderr and NEW not in ok.stdout + ok.stderr
    rerun = subprocess.run([*cli, "rotate-key"], env=env, capture_output=True, text=True, timeout=120)
    assert "re-sealed 0 door(s); 1 already" in rerun.stdout
