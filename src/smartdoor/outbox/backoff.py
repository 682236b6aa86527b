"""How long an undelivered message waits before its next attempt: 1 s after the first failure,
doubling up to a cap (15 s for a code's mail, which is useless after its two minutes; 5 minutes for
a notice, which may wait out a longer outage). Pure: the caller says how many attempts were made."""

from __future__ import annotations

FIRST_RETRY_SECONDS = 1.0


def retry_delay(attempts: int, *, cap_seconds: float) -> float:
    """Seconds from a failed attempt to the next one; `attempts` counts the failed one (≥ 1)."""
    return min(cap_seconds, FIRST_RETRY_SECONDS * 2 ** min(max(attempts, 1) - 1, 30))
