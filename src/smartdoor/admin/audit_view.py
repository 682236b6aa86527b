"""The audit as the admin pages show it: one filter (door, person, outcome, reason, event,
time range) used alike by the table, its pages, the export, the chart and the live feed; a
member's filter is always narrowed to their own events."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from smartdoor.audit import day_counts, windows
from smartdoor.errors import InvalidInput
from smartdoor.store.database import Database

OUTCOMES = ("success", "failure", "refused", "info")
PER_PAGE = 50
MAX_PAGE = 10_000
EXPORT_LIMIT = 100_000
WORD = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")  # ids, event names, reasons
CHART_DAYS = 30
MAX_CHART_DAYS = 366


@dataclass(frozen=True)
class AuditFilter:
    door: str | None = None
    person: str | None = None
    outcome: str | None = None
    reason: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def match(self) -> dict:
        """The filter without its time range."""
        return {name: value for name in ("door", "person", "outcome", "reason", "event")
                if (value := getattr(self, name)) is not None}  # fmt: skip

    def query(self) -> dict:
        flt = self.match()
        if self.since or self.until:
            flt["at"] = {}
            if self.since:
                flt["at"]["$gte"] = self.since
            if self.until:
                flt["at"]["$lt"] = self.until
        return flt

    def matches(self, event: dict) -> bool:
        """The same test as query(), for one event (the live feed)."""
        for name in ("door", "person", "outcome", "reason", "event"):
            if (value := getattr(self, name)) is not None and event.get(name) != value:
                return False
        at = event.get("at")
        if self.since and (not isinstance(at, datetime) or at < self.since):
            return False
        return not (self.until and (not isinstance(at, datetime) or at >= self.until))

    def params(self) -> dict[str, str]:
        """As query parameters (for links: pages, export, live feed)."""
        out = {n: getattr(self, n) for n in ("door", "person", "outcome", "reason", "event") if getattr(self, n)}
        if self.since:
            out["since"] = self.since.strftime("%Y-%m-%dT%H:%M")
        if self.until:
            out["until"] = self.until.strftime("%Y-%m-%dT%H:%M")
        return out


def _word(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not WORD.match(value):
        raise InvalidInput(f"{name}: letters, digits and _ . : - only, at most 64")
    return value


def _time(name: str, value: str | None) -> datetime | None:
    """A UTC time as a browser's datetime-local field (or a date) sends it."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value) if len(value) <= 32 else None
    except ValueError:
        parsed = None
    if parsed is None or not 1970 <= parsed.year <= 9999:
        raise InvalidInput(f"{name}: a time like 2026-11-25T08:00")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_filter(params, *, own_person: str | None = None) -> AuditFilter:
    """From query parameters; `own_person` (a member) replaces any person asked for."""
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput("outcome: " + ", ".join(OUTCOMES))
    flt = AuditFilter(
        door=_word("door", params.get("door")),
        person=_word("person", params.get("person")),
        outcome=outcome,
        reason=_word("reason", params.get("reason")),
        event=_word("event", params.get("event")),
        since=_time("since", params.get("since")),
        until=_time("until", params.get("until")),
    )
    return replace(flt, person=own_person) if own_person is not None else flt


def parse_page(value: str | None) -> int:
    if value is None or value == "":
        return 1
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise InvalidInput(f"page: 1 to {MAX_PAGE}")
    return int(value)


@dataclass
class EventsPage:
    events: list[dict]
    page: int
    has_next: bool


async def page_of_events(
    db: Database, flt: AuditFilter, *, page: int, now: datetime, per_page: int = PER_PAGE
) -> EventsPage:
    """Newest first; one more than a page is read to know whether there is a next one. Read in
    time windows from `until` (or `now`) back (audit.windows): the embedded database reads every
    event a query matches before it limits them."""
    rows = await windows.newest_first(
        db.audit, flt.match(), since=flt.since, until=flt.until, now=now, skip=(page - 1) * per_page,
        limit=per_page + 1,
    )  # fmt: skip
    return EventsPage(events=rows[:per_page], page=page, has_next=len(rows) > per_page)


async def events_for_export(db: Database, flt: AuditFilter, *, now: datetime) -> list[dict]:
    """Every event of the filtered view (all its pages), in its order, at most EXPORT_LIMIT:
    read in time windows too, so a view without a time range reads about EXPORT_LIMIT events,
    not the whole trail."""
    return await windows.newest_first(
        db.audit, flt.match(), since=flt.since, until=flt.until, now=now, limit=EXPORT_LIMIT, projection={"_id": 0}
    )


async def names(db: Database, events: list[dict]) -> dict[str, dict[str, str]]:
    """Door and person names by id, for the doors and people these events name (a page's: not
    every door and person, 11,000 of them at scale, for every page)."""
    doors = {e["door"] for e in events if e.get("door")}
    people = {e[k] for e in events for k in ("person", "actor") if e.get(k)}
    return {
        "door": await _names_of(db.doors, doors),
        "person": await _names_of(db.people, people),
    }


async def every_name(db: Database) -> dict[str, dict[str, str]]:
    """Every door's and person's name: the audit page's filter choices."""
    return {
        "door": {d["_id"]: d["name"] for d in await db.doors.find({}, {"name": 1}).to_list()},
        "person": {p["_id"]: p["name"] for p in await db.people.find({}, {"name": 1}).to_list()},
    }


async def _names_of(collection, ids: set) -> dict[str, str]:
    if not ids:
        return {}
    return {d["_id"]: d["name"] for d in await collection.find({"_id": {"$in": sorted(ids)}}, {"name": 1}).to_list()}


@dataclass
class Chart:
    days: list[dict]  # {"day": "2026-11-25", "counts": {outcome: n}, "total": n}
    peak: int
    width: int
    height: int
    bars: list[dict]  # ready to draw: x, width, and one rect per outcome (y, height)


def _day_range(flt: AuditFilter, now: datetime, days: int) -> tuple[datetime, datetime]:
    end = flt.until or now
    start = flt.since or end - timedelta(days=days)
    if (end - start).days > MAX_CHART_DAYS:
        start = end - timedelta(days=MAX_CHART_DAYS)
    return start, end


async def per_day_chart(
    db: Database, flt: AuditFilter, *, now: datetime, days: int = CHART_DAYS, retention_days: int | None = None
) -> Chart:
    """Events per UTC day and outcome over the filter's range (default: the last `days` days),
    laid out for a server-rendered SVG. Settled past days are counted once and kept
    (audit.day_counts) when `retention_days` (the audit's retention) is given."""
    start, end = _day_range(flt, now, days)
    counts = await day_counts.per_day(  # the end: as asked, else up to the newest event
        db, flt.match(), since=start, until=flt.until, now=now, retention_days=retention_days
    )
    day_list = []
    day = start.date()
    while day <= end.date():
        key = day.isoformat()
        c = counts.get(key, {})
        day_list.append({"day": key, "counts": c, "total": sum(c.values())})
        day += timedelta(days=1)
    return _layout(day_list)


def _layout(days: list[dict], *, width: int = 600, height: int = 160) -> Chart:
    peak = max([d["total"] for d in days] + [1])
    slot = width / max(len(days), 1)
    bars = []
    for i, d in enumerate(days):
        y = height
        rects = []
        for outcome in OUTCOMES:
            n = d["counts"].get(outcome, 0)
            if n:
                h = n / peak * (height - 10)
                y -= h
                rects.append({"outcome": outcome, "y": round(y, 1), "height": round(h, 1), "n": n})
        bars.append({"x": round(i * slot + slot * 0.1, 1), "width": round(slot * 0.8, 1), "rects": rects, **d})
    return Chart(days=days, peak=peak, width=width, height=height, bars=bars)
