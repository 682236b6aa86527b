"""Time is a parameter: routes read it from a clock object that tests replace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """Starts in the future by default: the database purges expired records (TTL indexes) by its
    own real clock, so a record a test stamped with a past fake time could vanish mid-test.
    1 January 2037 is a Thursday in a year with 2026's calendar."""

    START = datetime(2037, 1, 1, 12, 0, tzinfo=UTC)

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or self.START

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
