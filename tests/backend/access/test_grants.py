"""The grant service, door settings and the audit's new filters, on the embedded database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartdoor.access import service as access
from smartdoor.access.schedule import parse_window
from smartdoor.audit import service as audit
from smartdoor.doors import service as doors
from smartdoor.errors import InvalidInput, NotFound
from tests.backend.access.site import make_site


async def test_add_list_update_remove(harness):
    site = await make_site(harness)
    db, now = harness.db, harness.clock.now()
    guest = await site.add_person("Gus", "300", role="guest")
    g1 = await site.grant(actions=["unlock", "lock"], schedule=parse_window("mon-fri 09:00-17:00"))
    g2 = await site.grant(guest["_id"], valid_until=now + timedelta(days=2), max_uses=3)
    assert g1["actions"] == ["lock", "unlock"] and g1["uses"] == 0 and g1["_id"].startswith("g")
    assert [g["_id"] for g in await access.list_grants(db, door_id=site.door_id)] == [g1["_id"], g2["_id"]]
    assert [g["_id"] for g in await access.list_grants(db, person_id=guest["_id"])] == [g2["_id"]]
    changed = await access.update_grant(db, grant_id=g2["_id"], valid_until=None, max_uses=5, now=now)
    assert changed["valid_until"] is None and changed["max_uses"] == 5 and changed["person"] == guest["_id"]
    await access.remove_grant(db, grant_id=g1["_id"], now=now)
    with pytest.raises(NotFound):
        await access.get_grant(db, g1["_id"])
    await doors.remove_door(db, door_id=site.door_id)  # its grants go with it
    assert await access.list_grants(db) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"actions": []},
        {"actions": ["open"]},
        {"actions": "unlock"},
        {"valid_from": datetime(2026, 1, 1)},  # no time zone
        {"valid_from": datetime(2026, 2, 1, tzinfo=UTC), "valid_until": datetime(2026, 1, 1, tzinfo=UTC)},
        {"max_uses": 0},
        {"max_uses": True},
        {"schedule": []},
        {"schedule": [{"days": [0], "start": "17:00", "end": "09:00"}]},
    ],
)
async def test_bad_grants_are_refused(harness, fields):
    site = await make_site(harness)
    with pytest.raises(InvalidInput):
        await access.add_grant(
            harness.db, person_id=site.person["_id"], door_id=site.door_id, now=harness.clock.now(),
            **{"actions": ["unlock"], **fields},
        )  # fmt: skip
    assert await harness.db.grants.count_documents({}) == 0


async def test_grants_need_a_person_and_a_door(harness):
    site = await make_site(harness)
    now = harness.clock.now()
    with pytest.raises(NotFound):
        await access.add_grant(harness.db, person_id="pnobody", door_id=site.door_id, actions=["lock"], now=now)
    with pytest.raises(NotFound):
        await access.add_grant(harness.db, person_id=site.person["_id"], door_id="dnone", actions=["lock"], now=now)
    grant = await site.grant()
    with pytest.raises(InvalidInput):
        await access.update_grant(harness.db, grant_id=grant["_id"], door="elsewhere")
    with pytest.raises(InvalidInput):
        await access.update_grant(harness.db, grant_id=grant["_id"], valid_from=now + timedelta(days=1),
                                  valid_until=now)  # fmt: skip


async def test_door_settings(harness):
    site = await make_site(harness)
    db = harness.db
    door = await doors.get_door(db, site.door_id)
    assert (door["timezone"], door["shared_codes"], door["remote_unlock"], door["watchers"]) == (
        "Europe/Berlin", True, True, [],
    )  # fmt: skip
    changed = await doors.update_settings(db, door_id=site.door_id, watchers=[site.person["_id"]] * 2,
                                          shared_codes=False)  # fmt: skip
    assert changed == {"shared_codes": False, "watchers": [site.person["_id"]]}
    for bad in ({"timezone": "Mars/Base"}, {"watchers": ["pnobody"]}, {}, {"shared_codes": "yes"}):
        with pytest.raises((InvalidInput, NotFound)):
            await doors.update_settings(db, door_id=site.door_id, **bad)
    with pytest.raises(NotFound):
        await doors.set_timezone(db, door_id="dnone", timezone="UTC")


async def test_audit_filters_and_pages(harness):
    db, t0 = harness.db, datetime(2026, 5, 1, tzinfo=UTC)
    for i in range(10):
        await audit.record(db, now=t0 + timedelta(minutes=i), event="verify", outcome="refused",
                           person="p1" if i % 2 else "p2", reason="outside_schedule" if i < 4 else "expired_grant",
                           n=i)  # fmt: skip
    p1 = await audit.query(db, person="p1")
    assert [e["n"] for e in p1] == [1, 3, 5, 7, 9]
    assert [e["n"] for e in await audit.query(db, person="p1", reason="outside_schedule")] == [1, 3]
    assert [e["n"] for e in await audit.query(db, until=t0 + timedelta(minutes=3))] == [0, 1, 2]
    window = await audit.query(db, since=t0 + timedelta(minutes=2), until=t0 + timedelta(minutes=5))
    assert [e["n"] for e in window] == [2, 3, 4]
    pages = [await audit.query(db, newest_first=True, skip=s, limit=4) for s in (0, 4, 8)]
    assert [[e["n"] for e in p] for p in pages] == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    for bad in ({"limit": 0}, {"limit": 10_001}, {"skip": -1}):
        with pytest.raises(InvalidInput):
            await audit.query(db, **bad)
    indexes = [ix async for ix in await db.audit.list_indexes()]
    assert any(list(ix["key"].items()) == [("person", 1), ("at", -1)] for ix in indexes)  # "who, when?"
