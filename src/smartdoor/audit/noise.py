"""Requests that fail before a door is authenticated (unsigned, unknown door, bad signature,
stale) are counted, not written one by one: anyone on the network can send them, and one
audit entry each would fill the disk and bury the real events. Each (source address,
reason, door) gets one audit event per minute carrying the count.

Memory is bounded: past MAX_KEYS distinct sources in a minute, further ones are counted
under client None ("other sources")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from smartdoor.audit import service as audit
from smartdoor.store.database import Database

WINDOW = timedelta(seconds=60)
MAX_KEYS = 10_000

Key = tuple[str | None, str, str | None]  # client, reason, door (only a door that exists)


@dataclass
class _Count:
    count: int
    first_at: datetime
    path: str | None


class UnauthenticatedCounter:
    def __init__(self) -> None:
        self._counts: dict[Key, _Count] = {}
        self._window_start: datetime | None = None

    def add(self, *, client: str | None, reason: str, door: str | None, path: str | None, now: datetime) -> bool:
        """Counts one refused request; True when the minute is over and flush() is due."""
        key: Key = (client, reason, door)
        if key not in self._counts and len(self._counts) >= MAX_KEYS:
            key = (None, reason, None)
        entry = self._counts.get(key)
        if entry is None:
            self._counts[key] = _Count(1, now, path)
        else:
            entry.count += 1
        if self._window_start is None:
            self._window_start = now
        return now - self._window_start >= WINDOW

    def pending(self) -> int:
        return sum(c.count for c in self._counts.values())

    async def flush(self, db: Database, *, now: datetime) -> int:
        """Writes one event per key counted since the last flush; returns how many."""
        counts, self._counts, self._window_start = self._counts, {}, None
        events = [
            audit.entry(
                now=now,
                event="unauthenticated",
                outcome="refused",
                client=client,
                reason=reason,
                door=door,
                count=c.count,
                first_at=c.first_at,
                path=c.path,
            )
            for (client, reason, door), c in counts.items()
        ]
        try:
            await audit.record_many(db, events)
        except Exception:  # keep the counts for the next flush
            for key, c in counts.items():
                kept = self._counts.setdefault(key, _Count(0, c.first_at, c.path))
                kept.count += c.count
            self._window_start = self._window_start or min(c.first_at for c in counts.values())
            raise
        return len(events)
