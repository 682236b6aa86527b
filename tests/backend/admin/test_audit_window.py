"""The audit's pages are read in adjacent time windows (audit.windows: the embedded database
reads every event a query matches before it limits them): every page, for every filter, newest
or oldest first, is the page the whole trail gives, and a first page reads about what it shows."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from smartdoor.admin import audit_view
from smartdoor.admin.audit_view import AuditFilter, page_of_events
from smartdoor.audit import service as audit
from smartdoor.audit import windows


async def plain_page(db, flt: AuditFilter, page: int, per_page: int) -> list[dict]:
    cursor = db.audit.find(flt.query()).sort([("at", -1), ("_id", -1)]).skip((page - 1) * per_page)
    return await cursor.limit(per_page + 1).to_list()


@pytest.fixture
async def trail(harness):
    """400 events over 5 years, denser lately, some at the very same time (also on the first
    windows' edges), one a minute ahead."""
    now, rng = harness.clock.now(), random.Random(3)
    ages = [timedelta(days=rng.uniform(0, 5 * 365) ** 2 / (5 * 365)) for _ in range(390)]
    ages += [timedelta(minutes=5)] * 9 + [timedelta(minutes=-1)]
    ages += [windows.FIRST_WINDOW] * 3 + [windows.FIRST_WINDOW * 2] * 3 + [timedelta(days=400)] * 4
    events = [
        audit.entry(now=now - age, event="verify", outcome=rng.choice(["success", "failure"]),
                    door=rng.choice(["d1", "d2", "d3"]), person=rng.choice([None, "p1", "p2"]))
        for age in ages
    ]  # fmt: skip
    await harness.db.audit.insert_many(events)
    return harness.db, now


FILTERS = {
    "all": lambda now: AuditFilter(),
    "door": lambda now: AuditFilter(door="d1"),
    "person": lambda now: AuditFilter(person="p2", outcome="success"),
    "door-range": lambda now: AuditFilter(door="d2", since=now - timedelta(days=400), until=now - timedelta(days=30)),
    "since": lambda now: AuditFilter(since=now - timedelta(hours=3)),
    "none": lambda now: AuditFilter(door="nobody"),
    "until": lambda now: AuditFilter(until=now - timedelta(days=3)),
    "future": lambda now: AuditFilter(since=now + timedelta(days=1)),
    "backwards": lambda now: AuditFilter(since=now, until=now - timedelta(days=1)),
    "far": lambda now: AuditFilter(since=now - timedelta(days=401), until=now - timedelta(days=399)),
}


@pytest.mark.parametrize("name", FILTERS)
async def test_every_page_is_the_whole_trails_page(trail, name):
    db, now = trail
    flt = FILTERS[name](now)
    for per_page, pages in ((7, (1, 2, 3, 8, 9, 30, 57, 58)), (50, (1, 2, 8, 9))):
        for page in pages:
            got = await page_of_events(db, flt, page=page, per_page=per_page, now=now)
            want = await plain_page(db, flt, page, per_page)
            assert [e["_id"] for e in got.events] == [e["_id"] for e in want[:per_page]], (page, per_page)
            assert got.has_next == (len(want) > per_page)


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("newest", [True, False])
async def test_smartdoor_audit_pages_are_the_whole_trails(trail, name, newest):
    """audit.service.query (`smartdoor audit`): newest first from `until` or now, oldest first from
    `since` or a guess of the oldest, right or wrong (events older than it still come first)."""
    db, now = trail
    flt = FILTERS[name](now)
    order = -1 if newest else 1
    for guess in (now - timedelta(days=30), now - timedelta(days=20 * 365), now + timedelta(days=1)):
        for skip, limit in ((0, 1), (0, 7), (5, 7), (30, 50), (0, 1000), (390, 20), (500, 5)):
            got = await audit.query(
                db, door=flt.door, person=flt.person, outcome=flt.outcome, since=flt.since, until=flt.until,
                newest_first=newest, skip=skip, limit=limit, now=now, expected_oldest=guess,
            )  # fmt: skip
            want = (
                await db.audit.find(flt.query(), {"_id": 0})
                .sort([("at", order), ("_id", order)])
                .skip(skip)
                .limit(limit)
                .to_list()
            )
            assert got == want, (guess, skip, limit)


@pytest.mark.parametrize("name", ["all", "door", "until", "far"])
async def test_an_export_is_the_views_events_up_to_its_limit(trail, name, monkeypatch):
    db, now = trail
    flt = FILTERS[name](now)
    want = await db.audit.find(flt.query(), {"_id": 0}).sort([("at", -1), ("_id", -1)]).to_list()
    assert await audit_view.events_for_export(db, flt, now=now) == want
    monkeypatch.setattr(audit_view, "EXPORT_LIMIT", 37)
    assert await audit_view.events_for_export(db, flt, now=now) == want[:37]


class CountingReads:
    """The real audit collection, counting the events each query it is given matches."""

    def __init__(self, collection) -> None:
        self.collection, self.queries = collection, []

    def find(self, query, *args, **kwargs):
        self.queries.append(query)
        return self.collection.find(query, *args, **kwargs)

    def count_documents(self, query):
        self.queries.append(query)
        return self.collection.count_documents(query)

    async def events_read(self) -> int:
        return sum([await self.collection.count_documents(q) for q in self.queries])


async def test_a_first_page_reads_about_what_it_shows(harness):
    """A busy last hour (600 events) and a quiet year before it (one every 6 hours): the first
    page of 50 reads fewer than 150 events, and a busy door's page of 30 days (one of its events
    every half hour) fewer than 150 of its 1,440."""
    db, now = harness.db, harness.clock.now()
    busy = [audit.entry(now=now - timedelta(seconds=6 * i + 1), event="verify", outcome="success", door="d1")
            for i in range(600)]  # fmt: skip
    quiet = [audit.entry(now=now - timedelta(hours=i), event="state_report", outcome="info", door="d2")
             for i in range(6, 365 * 24, 6)]  # fmt: skip
    month = [audit.entry(now=now - timedelta(days=40, minutes=30 * i), event="verify", outcome="success", door="d3")
             for i in range(30 * 48)]  # fmt: skip
    trail = busy + quiet + month
    for i in range(0, len(trail), 500):
        await db.audit.insert_many(trail[i : i + 500])
    for match, since, until in (({}, None, None), ({"door": "d3"}, now - timedelta(days=70), now - timedelta(days=40))):
        reads = CountingReads(db.audit)
        rows = await windows.newest_first(reads, match, since=since, until=until, now=now, limit=51)  # type: ignore[arg-type]
        assert len(rows) == 51
        assert await reads.events_read() < 150, reads.queries


async def test_names_are_those_of_the_page(harness):
    """A page's names: the doors and people (and acting administrators) its events name, no other."""
    db = harness.db
    await db.doors.insert_many([{"_id": f"d{i}", "name": f"Door {i}"} for i in range(5)])
    people = [
        {"_id": f"p{i}", "name": f"Person {i}", "email": f"p{i}@x.test", "keypad": str(100 + i)} for i in range(5)
    ]
    await db.people.insert_many(people)
    events = [{"door": "d1", "person": "p2"}, {"door": "d3", "actor": "p4"}, {"door": "gone", "actor": "cli"}, {}]
    assert await audit_view.names(db, events) == {
        "door": {"d1": "Door 1", "d3": "Door 3"},
        "person": {"p2": "Person 2", "p4": "Person 4"},
    }
    assert await audit_view.names(db, []) == {"door": {}, "person": {}}


CHARTS = {
    "dashboard": (lambda now: AuditFilter(), 14),
    "audit page": (lambda now: AuditFilter(), 30),
    "outcome": (lambda now: AuditFilter(outcome="failure"), 30),
    "door": (lambda now: AuditFilter(door="d1"), 30),
    "range": (lambda now: AuditFilter(since=now - timedelta(days=500, hours=5), until=now - timedelta(days=200)), 30),
    "to now": (lambda now: AuditFilter(since=now - timedelta(days=20, hours=7)), 30),
}


@pytest.mark.parametrize("name", CHARTS)
@pytest.mark.parametrize("retention_days", [730, 25])
async def test_kept_day_counts_give_the_chart_counting_every_event_gives(trail, name, retention_days):
    """The chart from kept counts of settled days is the chart counted from the events, the first
    time and after (also days later, and with a retention shorter than the chart)."""
    db, now = trail
    make, days = CHARTS[name]
    for later in (timedelta(0), timedelta(0), timedelta(hours=5), timedelta(days=3)):
        flt = make(now + later)
        counted = await audit_view.per_day_chart(db, flt, now=now + later, days=days)
        kept = await audit_view.per_day_chart(db, flt, now=now + later, days=days, retention_days=retention_days)
        assert kept.days == counted.days, later
    # kept: not a door's days (nor a person's), nor days past the retention
    assert (await db.audit_days.count_documents({}) > 0) == (name != "door" and (name, retention_days) != ("range", 25))
