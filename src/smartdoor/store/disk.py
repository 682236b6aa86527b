"""How full DATA_DIR's filesystem is. A database on a full disk stops taking writes, and a door
that cannot count an attempt cannot open: `serve` says so in /health and, at most once an hour,
in its log, before it happens."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("smartdoor.store")

WARN_EVERY_SECONDS = 3600.0
CHECK_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class DiskUsage:
    """Bytes used and bytes this user could still write, as `df` counts them (the blocks kept
    for root are neither)."""

    used: int
    available: int

    @property
    def percent(self) -> float:
        size = self.used + self.available
        return 100.0 * self.used / size if size else 100.0

    def above(self, threshold_percent: float) -> bool:
        return self.percent > threshold_percent


def usage_of(path: Path) -> DiskUsage:
    """The usage of the filesystem path lives on (its nearest existing folder)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    fs = os.statvfs(path)
    return DiskUsage(used=(fs.f_blocks - fs.f_bfree) * fs.f_frsize, available=fs.f_bavail * fs.f_frsize)


def health_field(path: Path, *, threshold_percent: float) -> dict:
    """What /health says about DATA_DIR's filesystem."""
    try:
        usage = usage_of(path)
    except OSError:
        return {"used_percent": None, "nearly_full": None}
    return {"used_percent": round(usage.percent, 1), "nearly_full": usage.above(threshold_percent)}


class DiskWarning:
    """Logs a warning while the disk is above the threshold, at most once per `every` seconds."""

    def __init__(
        self,
        *,
        threshold_percent: float,
        every: float = WARN_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.every, self._monotonic = threshold_percent, every, monotonic
        self._last: float | None = None

    def check(self, usage: DiskUsage, *, where: Path) -> bool:
        """True when a warning was logged now."""
        if not usage.above(self.threshold):
            return False
        now = self._monotonic()
        if self._last is not None and now - self._last < self.every:
            return False
        self._last = now
        log.warning(
            "the filesystem of DATA_DIR %s is %.1f %% full (%d MiB left): a full disk stops the database; "
            "free space or move DATA_DIR",
            where,
            usage.percent,
            usage.available // 2**20,
        )
        return True


async def watch_disk(path: Path, *, threshold_percent: float, every_seconds: float = CHECK_EVERY_SECONDS) -> None:
    """Runs for the app's lifetime."""
    warning = DiskWarning(threshold_percent=threshold_percent)
    while True:
        try:
            warning.check(await asyncio.to_thread(usage_of, path), where=path)
        except OSError as exc:  # a disk that cannot even be asked must not end the watch
            log.warning("cannot read the usage of DATA_DIR %s: %s", path, exc.strerror)
        await asyncio.sleep(every_seconds)
