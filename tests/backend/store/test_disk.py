"""DATA_DIR's filesystem above DISK_WARN_PERCENT: a field in /health, a log line at most once an
hour. On a real (tiny) tmpfs where the machine lets us mount one."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess

import pytest

from smartdoor.store.disk import DiskUsage, DiskWarning, health_field, usage_of

MiB = 2**20


def test_percent_is_of_what_this_user_can_use():
    assert DiskUsage(used=90 * MiB, available=10 * MiB).percent == 90
    assert not DiskUsage(used=90 * MiB, available=10 * MiB).above(90)  # "above 90 %"
    assert DiskUsage(used=91 * MiB, available=9 * MiB).above(90)
    assert DiskUsage(used=0, available=0).above(90)  # nothing left to write is full


def test_the_log_says_it_at_most_once_an_hour(caplog, tmp_path):
    now = [0.0]
    warning = DiskWarning(threshold_percent=90, monotonic=lambda: now[0])
    full, fine = DiskUsage(used=95 * MiB, available=5 * MiB), DiskUsage(used=50 * MiB, available=50 * MiB)
    caplog.set_level(logging.WARNING, logger="smartdoor.store")
    said = []
    for minute in range(0, 181, 1):  # three hours, checked every minute
        now[0] = minute * 60.0
        said.append(warning.check(fine if 100 <= minute < 110 else full, where=tmp_path))
    assert [i for i, s in enumerate(said) if s] == [0, 60, 120, 180]
    assert len(caplog.records) == 4
    assert "95.0 % full (5 MiB left)" in caplog.records[0].getMessage()


async def test_health_has_the_disk_field(make_harness):
    async with make_harness() as h:
        body = (await h.http.get("/health")).json()
        assert body["disk"]["nearly_full"] in (True, False) and 0 <= body["disk"]["used_percent"] <= 100
    async with make_harness(disk_warn_percent=0.001) as h:  # any disk in use is above this
        assert (await h.http.get("/health")).json()["disk"]["nearly_full"] is True


@contextlib.contextmanager
def tiny_tmpfs(where):
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(where)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip() or 'not root'}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_on_a_real_filesystem_that_fills_up(tmp_path):
    with tiny_tmpfs(tmp_path / "small") as small:
        data_dir = small / "data"
        assert health_field(data_dir, threshold_percent=90) == {"used_percent": 0.0, "nearly_full": False}
        (small / "filler").write_bytes(b"\0" * (950 * 1024))
        usage = usage_of(data_dir)  # DATA_DIR not made yet: its filesystem is asked
        assert usage.above(90) and usage.used + usage.available == MiB
        assert health_field(data_dir, threshold_percent=90)["nearly_full"] is True
