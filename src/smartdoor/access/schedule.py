"""When a grant lets its person in: validity dates, weekly windows in the door's time zone,
and a maximum number of uses. Pure functions: the time is a parameter.

Weekly windows follow the door's wall clock. A moment is inside a window when the door's
local clock, at that moment, shows one of the window's weekdays and a time from `start` up to
(not including) `end`. So "mon-fri 09:00-17:00" is 09:00 to 17:00 local on the days the clocks
change too, and across the changes:

- clocks go forward (a skipped hour, e.g. 02:00-03:00 in Berlin on the last Sunday of March):
  a window that starts in the skipped hour opens when the clock jumps past its start (03:00),
  one that ends in it closes at the jump, and a window lying wholly inside the skipped hour
  does not open that day (its wall-clock times never happen);
- clocks go back (a repeated hour, e.g. 02:00-03:00 twice in late October): the window is
  open whenever the clock shows a time inside it, so during both passes of the hour.

Validity dates are instants (stored in UTC): `valid_from` inclusive, `valid_until` exclusive."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from smartdoor.access.models import ACTIONS, Grant, WeeklyWindow
from smartdoor.errors import InvalidInput

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 86400
MAX_WINDOWS = 28

# the reasons a grant gives for not allowing, most hopeful first: when a person has several
# grants for a door and none allows, the audit names the reason of the one closest to allowing
REASONS = ("outside_schedule", "uses_exhausted", "not_yet_valid", "expired_grant", "action_not_granted")

_TIME = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")


# --- time zones -------------------------------------------------------------------------------


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """An IANA time zone name (e.g. "Europe/Berlin"), or InvalidInput."""
    if not isinstance(name, str) or (name not in _known_zones() and name != "UTC"):
        raise InvalidInput(f"not an IANA time zone name: {str(name)[:64]!r} (e.g. Europe/Berlin)")
    return name


def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


# --- windows ------------------------------------------------------------------------------------


def _seconds(hhmm: str) -> int:
    match = _TIME.match(hhmm) if isinstance(hhmm, str) else None
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidInput(f"a time is HH:MM from 00:00 to 24:00, not {str(hhmm)[:16]!r}")
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60


def check_window(window: dict) -> WeeklyWindow:
    """A window as stored: days sorted and unique, start < end (end may be "24:00")."""
    if not isinstance(window, dict) or set(window) != {"days", "start", "end"}:
        raise InvalidInput('a window is {"days": [0..6], "start": "HH:MM", "end": "HH:MM"}')
    days = window["days"]
    if not isinstance(days, list) or not days or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
        raise InvalidInput("a window's days are a non-empty list of 0 (Monday) to 6 (Sunday)")
    start, end = _seconds(window["start"]), _seconds(window["end"])
    if start == DAY_SECONDS:
        raise InvalidInput("a window cannot start at 24:00")
    if start >= end:
        raise InvalidInput("a window's start is before its end (one across midnight is two windows)")
    return WeeklyWindow(days=sorted(set(days)), start=window["start"], end=window["end"])


def check_schedule(schedule: list | None) -> list[WeeklyWindow] | None:
    """None (any time) or a non-empty list of windows."""
    if schedule is None:
        return None
    if not isinstance(schedule, list) or not 1 <= len(schedule) <= MAX_WINDOWS:
        raise InvalidInput(f"a schedule is 1 to {MAX_WINDOWS} windows (or none: any time)")
    return [check_window(w) for w in schedule]


def _days(text: str) -> list[int]:
    """ "mon-fri", "sat,sun", "fri-mon" (wraps), "daily"."""
    if text in ("daily", "*"):
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise InvalidInput(f"days are like mon-fri, sat,sun or daily, not {text[:32]!r}")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days += [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    return sorted(set(days))


def parse_window(text: str) -> list[WeeklyWindow]:
    """ "mon-fri 09:00-17:00" → one window. A window across midnight ("fri 22:00-06:00") becomes
    two: fri 22:00-24:00 and sat 00:00-06:00."""
    parts = text.strip().lower().split()
    if len(parts) != 2 or parts[1].count("-") != 1:
        raise InvalidInput(f'a schedule window is like "mon-fri 09:00-17:00", not {text[:40]!r}')
    days = _days(parts[0])
    start, end = parts[1].split("-")
    if _seconds(start) == _seconds(end):
        raise InvalidInput(f"a window's start and end differ, not {parts[1]!r}")
    if _seconds(start) < _seconds(end):
        return [check_window({"days": days, "start": start, "end": end})]
    if _seconds(end) == 0:  # "22:00-00:00" means until midnight
        return [check_window({"days": days, "start": start, "end": "24:00"})]
    return [
        check_window({"days": days, "start": start, "end": "24:00"}),
        check_window({"days": [(d + 1) % 7 for d in days], "start": "00:00", "end": end}),
    ]


def describe(window: WeeklyWindow) -> str:
    days = window["days"]
    if days == list(range(7)):
        names = "daily"
    elif len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        names = f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
    else:
        names = ",".join(DAY_NAMES[d] for d in days)
    return f"{names} {window['start']}-{window['end']}"


def in_schedule(schedule: list[WeeklyWindow] | None, *, now: datetime, tz: ZoneInfo) -> bool:
    """Whether the door's wall clock at `now` (an aware datetime) is inside a window."""
    if schedule is None:
        return True
    local = now.astimezone(tz)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return any(local.weekday() in w["days"] and _seconds(w["start"]) <= seconds < _seconds(w["end"]) for w in schedule)


# --- decisions ---------------------------------------------------------------------------------


def allows(grant: Grant, *, action: str, now: datetime, tz: ZoneInfo | str) -> str | None:
    """None when `grant` lets its person `action` the door at `now`; else the reason. `tz`: the
    door's time zone (a ZoneInfo or its IANA name); `grant["uses"]` as the service fills it in."""
    if isinstance(tz, str):
        tz = zone(tz)
    if action not in ACTIONS or action not in grant["actions"]:
        return "action_not_granted"
    if (valid_from := grant.get("valid_from")) is not None and now < valid_from:
        return "not_yet_valid"
    if (valid_until := grant.get("valid_until")) is not None and now >= valid_until:
        return "expired_grant"
    if (max_uses := grant.get("max_uses")) is not None and grant.get("uses", 0) >= max_uses:
        return "uses_exhausted"
    if not in_schedule(grant.get("schedule"), now=now, tz=tz):
        return "outside_schedule"
    return None


def choose(grants: list[Grant], *, action: str, now: datetime, tz: ZoneInfo) -> tuple[Grant | None, str | None]:
    """A grant that allows (and None), or no grant and the reason of the one closest to allowing
    ("no_grant" when there is none). Of several that allow, one without a maximum of uses is
    taken first, so a person's unlimited grant does not spend their limited one."""
    reasons = []
    allowing = []
    for grant in grants:
        reason = allows(grant, action=action, now=now, tz=tz)
        if reason is None:
            allowing.append(grant)
        else:
            reasons.append(reason)
    if allowing:
        return min(allowing, key=lambda g: g.get("max_uses") is not None), None
    if not reasons:
        return None, "no_grant"
    return None, min(reasons, key=REASONS.index)
