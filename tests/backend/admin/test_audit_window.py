"""The admin pages' newest-first audit pages are looked for in a growing time window (the
embedded database reads every event a query matches before it limits them): every page, for
every filter, is the page the whole trail gives."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from smartdoor.admin.audit_view import AuditFilter, page_of_events
from smartdoor.audit import service as audit


async def plain_page(db, flt: AuditFilter, page: int, per_page: int) -> list[dict]:
    cursor = db.audit.find(flt.query()).sort([("at", -1), ("_id", -1)]).skip((page - 1) * per_page)
    return await cursor.limit(per_page + 1).to_list()


@pytest.fixture
async def trail(harness):
    """400 events over 5 years, denser lately, some at the very same time, one a minute ahead."""
    now, rng = harness.clock.now(), random.Random(3)
    ages = [timedelta(days=rng.uniform(0, 5 * 365) ** 2 / (5 * 365)) for _ in range(390)]
    ages += [timedelta(minutes=5)] * 9 + [timedelta(minutes=-1)]
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
