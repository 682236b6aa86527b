"""How long an undelivered parcel waits before its next attempt: its schedule's first wait after
the first failure, doubling up to the schedule's cap (for a code's mail 1 s up to 15 s, as it is
useless after its two minutes; for a notice 1 s up to 5 minutes, as it may wait out a longer
outage). Pure: the caller says how many attempts were made."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Retry:
    """A parcel's retry schedule, seconds."""

    cap_seconds: float
    first_seconds: float = 1.0


def retry_delay(attempts: int, *, cap_seconds: float, first_seconds: float = 1.0) -> float:
    """Seconds from a failed attempt to the next one; `attempts` counts the failed one (≥ 1)."""
    return min(cap_seconds, first_seconds * 2 ** min(max(attempts, 1) - 1, 30))
