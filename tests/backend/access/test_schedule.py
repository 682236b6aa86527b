"""Grant schedules in the door's own time zone, across both daylight-saving changes in two
zones, and the validity and use limits (pure functions, instants given in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartdoor.access.schedule import (
    allows,
    check_schedule,
    check_timezone,
    choose,
    describe,
    in_schedule,
    parse_window,
)
from smartdoor.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")  # 2026: forward 29 March 02:00 CET, back 25 October 03:00 CEST
NEW_YORK = ZoneInfo("America/New_York")  # 2026: forward 8 March 02:00 EST, back 1 November 02:00 EDT
WORKDAY = parse_window("daily 09:00-17:00")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def open_minutes(schedule, tz, start: datetime, hours: int = 24) -> list[datetime]:
    """Every UTC minute in [start, start + hours) at which the schedule is open."""
    minutes = (start + timedelta(minutes=m) for m in range(hours * 60))
    return [t for t in minutes if in_schedule(schedule, now=t, tz=tz)]


def grant(**fields) -> dict:
    return {"_id": "g1", "person": "p1", "door": "d1", "actions": ["unlock"], "schedule": None, "uses": 0, **fields}


@pytest.mark.parametrize(
    ("tz", "day", "opens_utc"),
    [
        (BERLIN, utc(2026, 3, 28), 8),  # Saturday before: CET (+1)
        (BERLIN, utc(2026, 3, 29), 7),  # the change day: CEST (+2) from 03:00
        (BERLIN, utc(2026, 10, 25), 8),  # back to CET
        (BERLIN, utc(2026, 10, 24), 7),
        (NEW_YORK, utc(2026, 3, 7), 14),  # EST (-5)
        (NEW_YORK, utc(2026, 3, 8), 13),  # EDT (-4) from 02:00 (07:00 UTC)
        (NEW_YORK, utc(2026, 10, 31), 13),
        (NEW_YORK, utc(2026, 11, 1), 14),  # EST again from 02:00 EDT (06:00 UTC)
    ],
)
def test_nine_to_five_is_nine_to_five_local_on_and_around_the_change_days(tz, day, opens_utc):
    opened = open_minutes(WORKDAY, tz, day)
    assert opened[0] == day.replace(hour=opens_utc)
    assert opened[-1] == day.replace(hour=opens_utc + 7, minute=59)  # 16:59 local is the last open minute
    assert len(opened) == 8 * 60
    assert in_schedule(WORKDAY, now=day.replace(hour=opens_utc) - timedelta(seconds=1), tz=tz) is False
    assert in_schedule(WORKDAY, now=day.replace(hour=opens_utc + 8) - timedelta(seconds=1), tz=tz) is True
    assert in_schedule(WORKDAY, now=day.replace(hour=opens_utc + 8), tz=tz) is False


def test_skipped_hour_berlin():
    day = utc(2026, 3, 28, 23)  # local midnight of 29 March (CET)
    # 01:00-04:00 local spans the jump: open 01:00-02:00 CET and 03:00-04:00 CEST, two real hours
    opened = open_minutes(parse_window("sun 01:00-04:00"), BERLIN, day)
    assert (opened[0], opened[-1], len(opened)) == (utc(2026, 3, 29, 0), utc(2026, 3, 29, 1, 59), 120)
    # a window starting in the skipped hour opens at the jump (03:00 CEST = 01:00 UTC)
    assert open_minutes(parse_window("sun 02:30-05:00"), BERLIN, day)[0] == utc(2026, 3, 29, 1)
    # one ending in it closes at the jump
    assert open_minutes(parse_window("sun 01:30-02:30"), BERLIN, day)[-1] == utc(2026, 3, 29, 0, 59)
    # one wholly inside it does not open that day, but the Sunday after
    assert open_minutes(parse_window("sun 02:00-02:45"), BERLIN, day) == []
    assert len(open_minutes(parse_window("sun 02:00-02:45"), BERLIN, utc(2026, 4, 4, 22))) == 45


def test_skipped_hour_new_york():
    day = utc(2026, 3, 8, 5)  # local midnight of 8 March (EST)
    opened = open_minutes(parse_window("sun 01:00-04:00"), NEW_YORK, day)
    assert (opened[0], opened[-1], len(opened)) == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 59), 120)
    assert open_minutes(parse_window("sun 02:15-02:45"), NEW_YORK, day) == []


def test_repeated_hour_berlin():
    day = utc(2026, 10, 24, 22)  # local midnight of 25 October (CEST)
    # 02:00-02:30 happens twice: 02:00 CEST (00:00 UTC) and 02:00 CET (01:00 UTC)
    opened = open_minutes(parse_window("sun 02:00-02:30"), BERLIN, day)
    assert len(opened) == 60
    assert opened[0] == utc(2026, 10, 25, 0) and opened[29] == utc(2026, 10, 25, 0, 29)
    assert opened[30] == utc(2026, 10, 25, 1) and opened[-1] == utc(2026, 10, 25, 1, 29)
    # 01:00-04:00 covers the repeated hour: four real hours that night
    assert len(open_minutes(parse_window("sun 01:00-04:00"), BERLIN, day)) == 4 * 60


def test_repeated_hour_new_york():
    day = utc(2026, 11, 1, 4)  # local midnight of 1 November (EDT)
    opened = open_minutes(parse_window("sun 01:00-02:00"), NEW_YORK, day)
    assert (opened[0], opened[-1], len(opened)) == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 6, 59), 120)


def test_weekdays_are_the_door_s_weekdays():
    # Friday 23:30 in New York is already Saturday in UTC: a mon-fri window still applies
    friday_night = utc(2026, 1, 10, 4, 30)  # Fri 9 Jan 23:30 EST
    assert in_schedule(parse_window("mon-fri 20:00-24:00"), now=friday_night, tz=NEW_YORK)
    assert not in_schedule(parse_window("mon-fri 20:00-24:00"), now=friday_night, tz=ZoneInfo("UTC"))


def test_validity_edges_and_uses():
    start, end = utc(2026, 12, 20, 10), utc(2026, 12, 27, 10)
    g = grant(valid_from=start, valid_until=end, max_uses=2)
    tz = ZoneInfo("UTC")
    assert allows(g, action="unlock", now=start - timedelta(microseconds=1), tz=tz) == "not_yet_valid"
    assert allows(g, action="unlock", now=start, tz=tz) is None  # valid_from is inclusive
    assert allows(g, action="unlock", now=end - timedelta(microseconds=1), tz=tz) is None
    assert allows(g, action="unlock", now=end, tz=tz) == "expired_grant"  # valid_until is exclusive
    assert allows({**g, "uses": 1}, action="unlock", now=start, tz=tz) is None
    assert allows({**g, "uses": 2}, action="unlock", now=start, tz=tz) == "uses_exhausted"
    assert allows(g, action="lock", now=start, tz=tz) == "action_not_granted"
    assert allows(g, action="open-sesame", now=start, tz=tz) == "action_not_granted"
    weekend = grant(schedule=parse_window("sat,sun 10:00-12:00"))
    assert allows(weekend, action="unlock", now=utc(2026, 12, 21, 11), tz=tz) == "outside_schedule"  # a Monday
    assert allows(weekend, action="unlock", now=utc(2026, 12, 20, 11), tz=tz) is None  # a Sunday
    assert allows(weekend, action="unlock", now=utc(2026, 12, 20, 11), tz="America/New_York") == "outside_schedule"


def test_choose_prefers_unlimited_grants_and_reports_the_closest_reason():
    now, tz = utc(2026, 6, 1, 12), ZoneInfo("UTC")
    limited = grant(_id="g-limited", max_uses=1)
    unlimited = grant(_id="g-unlimited")
    assert choose([limited, unlimited], action="unlock", now=now, tz=tz) == (unlimited, None)
    expired = grant(valid_until=utc(2026, 1, 1))
    night = grant(schedule=parse_window("daily 22:00-06:00"))
    assert choose([expired, night], action="unlock", now=now, tz=tz) == (None, "outside_schedule")
    assert choose([expired], action="unlock", now=now, tz=tz) == (None, "expired_grant")
    assert choose([], action="unlock", now=now, tz=tz) == (None, "no_grant")


def test_parsing_windows():
    assert parse_window("Mon-Fri 09:00-17:00") == [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    assert parse_window("sat,sun 10:00-14:00") == [{"days": [5, 6], "start": "10:00", "end": "14:00"}]
    assert parse_window("fri-mon 08:00-09:00")[0]["days"] == [0, 4, 5, 6]  # wraps over the weekend
    assert parse_window("daily 00:00-24:00") == [{"days": list(range(7)), "start": "00:00", "end": "24:00"}]
    assert parse_window("sun 22:00-06:00") == [
        {"days": [6], "start": "22:00", "end": "24:00"},
        {"days": [0], "start": "00:00", "end": "06:00"},
    ]
    assert parse_window("fri 18:00-00:00") == [{"days": [4], "start": "18:00", "end": "24:00"}]
    assert [describe(w) for w in parse_window("mon-fri 09:00-17:00") + parse_window("sat,sun 10:00-12:00")] == [
        "mon-fri 09:00-17:00",
        "sat,sun 10:00-12:00",
    ]


@pytest.mark.parametrize(
    "text", ["", "mon", "mon 9-17", "funday 09:00-17:00", "mon 09:00-25:00", "mon 24:00-24:00", "mon 09:00-09:00",
             "mon 09:60-10:00", "mon-fri 09:00 17:00"],
)  # fmt: skip
def test_bad_windows_are_refused(text):
    with pytest.raises(InvalidInput):
        parse_window(text)


@pytest.mark.parametrize(
    "schedule",
    [[], [{"days": [], "start": "09:00", "end": "10:00"}], [{"days": [7], "start": "09:00", "end": "10:00"}],
     [{"days": [1], "start": "10:00", "end": "09:00"}], [{"days": [1], "start": "10:00"}], ["mon 09:00-10:00"],
     [{"days": [True], "start": "09:00", "end": "10:00", "x": 1}]],
)  # fmt: skip
def test_bad_schedules_are_refused(schedule):
    with pytest.raises(InvalidInput):
        check_schedule(schedule)


def test_time_zone_names():
    assert check_timezone("Europe/Berlin") == "Europe/Berlin" and check_timezone("UTC") == "UTC"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "europe/berlin", None):
        with pytest.raises(InvalidInput):
            check_timezone(bad)
