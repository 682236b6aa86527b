"""A per-process memory of doors seen locked out (the lockout gate's, api/lockout_gate.py),
so hammering a locked door costs the database nothing: while an entry is fresh, a signed
code request or verify for that door is answered 429 without a database read or an audit write of its own.

It can only ever refuse: the database stays the truth. An entry lives `ttl_seconds` of the
clock, so a lockout lifted by an administrator is seen about that much later. Rejections
answered from memory are counted and audited as one event when the door is next read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from smartdoor.doors.lockout import HARD_LOCKOUT_RETRY_AFTER, retry_after
from smartdoor.doors.models import Door
from smartdoor.errors import LockedOut

MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    door: Door
    hard: bool
    until: datetime
    checked_at: datetime
    rejections: int = 0


class LockoutMemory:
    def __init__(self, ttl_seconds: float = 1.0) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._entries: dict[str, _Entry] = {}

    def remember(self, door: Door, refusal: LockedOut, now: datetime) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        old = self._entries.get(door["_id"])
        self._entries[door["_id"]] = _Entry(
            door, refusal.hard, now + timedelta(seconds=refusal.retry_after), now, old.rejections if old else 0
        )

    def door(self, door_id: str, now: datetime) -> Door | None:
        """The remembered door while its lockout lasts, else None. Once an entry is older than
        the ttl, one request is let through to re-check the database (its outcome calls
        remember or forget); the others meanwhile are still refused from memory."""
        entry = self._entries.get(door_id)
        if entry is None or entry.until <= now:
            return None
        if now - entry.checked_at > self._ttl:
            entry.checked_at = now
            return None
        return entry.door

    def forget(self, door_id: str) -> None:
        self._entries.pop(door_id, None)

    def refuse(self, door_id: str, now: datetime) -> LockedOut:
        entry = self._entries[door_id]
        entry.rejections += 1
        if entry.hard:
            return LockedOut(retry_after=HARD_LOCKOUT_RETRY_AFTER, hard=True)
        return LockedOut(retry_after=retry_after(entry.until, now))

    def take_rejections(self, door_id: str) -> int:
        """How many rejections were answered from memory since the last call; resets the count."""
        entry = self._entries.get(door_id)
        if entry is None:
            return 0
        count, entry.rejections = entry.rejections, 0
        return count
