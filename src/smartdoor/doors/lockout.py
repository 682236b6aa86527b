"""A door's lockout policy, in one place: when a door refuses codes, and what a failed
attempt costs. Pure functions of the door's record, the limits and `now`; the code engine,
the routes and the lockout gate all ask here.

Every `failures_per_lockout` consecutive failures impose a wait, doubling from
`lockout_base_seconds` up to `lockout_max_seconds`; at `hard_lockout_failures` the door
refuses codes until an administrator clears it. Failures are counted per door, so new codes
do not reset them; only a success or an administrator does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartdoor.doors.models import Door
from smartdoor.errors import LockedOut

HARD_LOCKOUT_RETRY_AFTER = 3600  # what a hard-locked door tells clients to wait (an admin must act)


@dataclass(frozen=True)
class Limits:
    max_attempts_per_code: int = 5
    failures_per_lockout: int = 5
    lockout_base_seconds: int = 30
    lockout_max_seconds: int = 3600
    hard_lockout_failures: int = 100


def retry_after(until: datetime, now: datetime) -> int:
    """Whole seconds to wait, rounded up, at least 1."""
    return max(1, math.ceil((until - now).total_seconds()))


def lockout_seconds(failures: int, *, per_lockout: int, base: int, maximum: int) -> int:
    """The wait imposed right after the door's `failures`-th consecutive failure: every
    `per_lockout` failures the wait doubles from `base`, capped at `maximum`; 0 otherwise."""
    if failures <= 0 or failures % per_lockout:
        return 0
    step = failures // per_lockout - 1
    return min(base * 2 ** min(step, 32), maximum)


def refusal(door: Door, now: datetime) -> LockedOut | None:
    """Why the door refuses codes right now, or None."""
    if door.get("hard_locked"):
        return LockedOut(retry_after=HARD_LOCKOUT_RETRY_AFTER, hard=True)
    until = door.get("locked_until")
    if until is not None and until > now:
        return LockedOut(retry_after=retry_after(until, now))
    return None


def check(door: Door, now: datetime) -> None:
    """Raises LockedOut while the door refuses codes."""
    if (locked := refusal(door, now)) is not None:
        raise locked


@dataclass(frozen=True)
class FailureCost:
    """What one more failed attempt does to the door."""

    failures: int
    wait_seconds: int  # 0: no wait starts with this failure
    hard: bool

    def fields(self, now: datetime) -> dict:
        """The door fields to set when this failure is counted."""
        out: dict = {"failures": self.failures}
        if self.hard:
            out["hard_locked"] = True
        elif self.wait_seconds:
            out["locked_until"] = now + timedelta(seconds=self.wait_seconds)
        return out

    def refusal(self) -> LockedOut | None:
        """The lockout this failure starts, if any."""
        if self.hard:
            return LockedOut(retry_after=HARD_LOCKOUT_RETRY_AFTER, hard=True)
        if self.wait_seconds:
            return LockedOut(retry_after=self.wait_seconds)
        return None


def next_failure(door: Door, limits: Limits) -> FailureCost:
    failures = door.get("failures", 0) + 1
    wait = lockout_seconds(
        failures,
        per_lockout=limits.failures_per_lockout,
        base=limits.lockout_base_seconds,
        maximum=limits.lockout_max_seconds,
    )
    return FailureCost(failures, wait, failures >= limits.hard_lockout_failures)


CLEARED = {"failures": 0, "locked_until": None, "hard_locked": False, "lockout_notified": False}
"""The door fields a success or an administrator sets."""
