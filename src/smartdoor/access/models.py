"""The shape of a grant (collection `grants`): one person may do these actions on one door,
between these dates, in these weekly windows of the door's own time zone, at most so many
times.

How often a grant was used is counted in the door's record (`Door.grant_uses`), in the same
update that uses a code up: that keeps a use and its count one atomic step (a guest with one
use cannot open twice) without another database round trip. The service functions fill
`uses` in from there."""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired, TypedDict

from smartdoor.doors.models import Action

ACTIONS: tuple[Action, ...] = ("lock", "unlock")


class WeeklyWindow(TypedDict):
    """Open on these weekdays (Monday = 0) from `start` until before `end`, by the door's
    clock ("HH:MM"; `end` may be "24:00"; start < end)."""

    days: list[int]
    start: str
    end: str


class Grant(TypedDict):
    _id: str  # "g…"
    person: str
    door: str
    actions: list[Action]  # a non-empty subset of ACTIONS
    valid_from: NotRequired[datetime | None]  # inclusive
    valid_until: NotRequired[datetime | None]  # exclusive
    schedule: list[WeeklyWindow] | None  # None: any time
    max_uses: NotRequired[int | None]  # None: unlimited
    uses: int  # codes of this grant used so far (from the door's record)
    created_at: datetime
