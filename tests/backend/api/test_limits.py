"""Every limit hit at its stated number, with the fake clock."""

from __future__ import annotations

import asyncio

import pytest

from smartdoor.doors.lockout import lockout_seconds
from smartdoor.doors.service import clear_lockout


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def fail(device, cid, code, times):
    return [await device.verify(cid, wrong(code)) for _ in range(times)]


async def test_five_wrong_codes_burn_the_challenge(make_harness):
    async with make_harness(failures_per_lockout=50) as h:  # isolate the per-code limit
        device = await h.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        code = h.latest_code(1)
        replies = await fail(device, cid, code, 5)
        assert [r.json().get("attempts_left") for r in replies[:4]] == [4, 3, 2, 1]
        assert all(r.status_code == 403 and r.json()["error"] == "wrong_code" for r in replies[:4])
        assert replies[4].status_code == 410 and replies[4].json()["error"] == "burned"
        r = await device.verify(cid, code)  # the right code is useless now
        assert r.status_code == 410 and r.json()["error"] == "burned"
        assert len(await h.audit(event="burned")) == 1


async def test_parallel_wrong_codes_never_exceed_the_attempt_limit(make_harness):
    async with make_harness(failures_per_lockout=1000, hard_lockout_failures=1000) as h:
        device = await h.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        code = h.latest_code(1)
        replies = await asyncio.gather(*(device.verify(cid, wrong(code)) for _ in range(20)))
        assert {r.status_code for r in replies} <= {403, 410}
        assert {r.json()["error"] for r in replies} <= {"wrong_code", "burned"}
        assert len(await h.audit(event="wrong_code")) == 5
        assert len(await h.audit(event="burned")) == 1
        assert (await h.db.doors.find_one({"_id": device.door_id}))["pending"]["attempts"] == 5


async def test_escalating_lockout_not_reset_by_new_code(harness):
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    code = harness.latest_code(1)
    replies = await fail(device, cid, code, 4)
    # a new code does not reset the door's failure count
    cid = (await device.request_code()).json()["challenge_id"]
    code = harness.latest_code(2)
    r = await device.verify(cid, wrong(code))  # 5th consecutive failure
    assert r.status_code == 429 and r.json()["error"] == "locked_out"
    assert r.json()["retry_after"] == 30 and r.headers["retry-after"] == "30"
    harness.clock.advance(29)
    r = await device.verify(cid, code)
    assert r.status_code == 429 and r.json()["retry_after"] == 1
    r = await device.request_code()
    assert r.status_code == 429 and r.json()["error"] == "locked_out"
    harness.clock.advance(1)
    assert (await device.verify(cid, code)).status_code == 200  # success resets the count
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["failures"] == 0
    assert replies[0].status_code == 403


async def test_lockout_doubles_and_first_lockout_is_mailed(harness):
    device = await harness.add_door()
    waits = []
    mails = 0
    for _ in range(3):
        harness.clock.advance(901)
        cid = (await device.request_code()).json()["challenge_id"]
        mails += 1
        code = harness.latest_code(mails)
        replies = await fail(device, cid, code, 5)
        waits.append(replies[-1].json()["retry_after"])
        if len(waits) == 1:
            mails += 1  # the lockout notice, sent after the reply
            await harness.settle()
            notice = harness.sink.wait_for(mails)[0]
            assert "locked out" in notice["subject"] and notice["to"] == ["alice@example.com"]
        harness.clock.advance(waits[-1])
    assert waits == [30, 60, 120]
    assert len(harness.sink.messages()) == mails  # only the first lockout mails
    assert len(await harness.audit(event="lockout_notice")) == 1


def test_lockout_arithmetic():
    kw = dict(per_lockout=5, base=30, maximum=3600)
    assert [lockout_seconds(n, **kw) for n in (1, 4, 5, 6, 10, 15, 20)] == [0, 0, 30, 0, 60, 120, 240]
    assert lockout_seconds(40, **kw) == 3600 and lockout_seconds(95, **kw) == 3600


@pytest.mark.slow
async def test_hard_stop_at_100_failures_until_admin_clears(harness):
    device = await harness.add_door()
    failures = 0
    while failures < 100:
        harness.clock.advance(3601)  # past any wait and the request window
        r = await device.request_code()
        assert r.status_code == 200, (failures, r.json())
        cid = r.json()["challenge_id"]
        code = harness.latest_code(1)  # mail is accepted before the reply returns
        for _ in range(5):
            r = await device.verify(cid, wrong(code))
            failures += 1
    assert r.status_code == 429 and r.json()["error"] == "hard_lockout"
    harness.clock.advance(86400 * 30)  # time does not lift it
    r = await device.request_code()
    assert r.status_code == 429 and r.json()["error"] == "hard_lockout"
    assert len(await harness.audit(event="hard_lockout")) == 1
    await clear_lockout(harness.db, door_id=device.door_id)  # as `smartdoor door clear-lockout` does
    r = await device.request_code()
    assert r.status_code == 429  # this backend remembers the lockout for up to a second
    harness.clock.advance(1.01)
    r = await device.request_code()
    assert r.status_code == 200
    assert (await device.verify(r.json()["challenge_id"], harness.latest_code(1))).status_code == 200


async def test_five_code_requests_per_15_minutes(harness):
    device = await harness.add_door()
    for _ in range(5):
        assert (await device.request_code()).status_code == 200
        harness.clock.advance(60)
    r = await device.request_code()  # 6th within 15 min
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert r.json()["retry_after"] == 900 - 300 and r.headers["retry-after"] == "600"
    assert len(harness.sink.messages()) == 5  # no mail for the refused request
    harness.clock.advance(600)  # the first request leaves the window
    assert (await device.request_code()).status_code == 200
    assert (await device.request_code()).status_code == 429
    assert len(await harness.audit(event="code_request", outcome="refused")) == 2


async def test_locked_door_is_refused_from_memory_and_counted_once(harness):
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    code = harness.latest_code(1)
    await fail(device, cid, code, 5)  # 5th: locked out for 30 s
    await harness.settle()  # the lockout notice's audit event is written after the reply
    audit_before = await harness.db.audit.count_documents({})
    replies = [await device.verify(cid, code) for _ in range(20)]  # signed replies checked by verify()
    assert {r.status_code for r in replies} == {429}
    assert {r.json()["error"] for r in replies} == {"locked_out"}
    assert await harness.db.audit.count_documents({}) == audit_before  # no write per rejection
    # a state report is never refused for a lockout
    assert (await device.post("/api/v1/state", {"state": "locked"})).status_code == 200
    harness.clock.advance(1.5)  # the memory is re-checked against the database
    r = await device.request_code()
    assert r.status_code == 429 and r.json()["retry_after"] == 29
    summary = await harness.audit(event="lockout_rejections")
    assert [e["count"] for e in summary] == [20]
    harness.clock.advance(29)
    assert (await device.verify(cid, code)).json()["error"] == "burned"  # the lockout is over
