"""Engine bugs the model test (test_engine_model.py) found, each pinned by a plain test of its own
through the real app."""

from __future__ import annotations

from smartdoor.access import service as access
from smartdoor.people import service as people


async def test_a_late_verify_of_a_person_s_expired_code_is_a_410_audited_once(harness):
    """The verify that notices a person's code has expired named the person twice in the audit
    event (a 500, and the expiry went unaudited)."""
    device = await harness.add_door()
    now = harness.clock.now()
    guest = await people.add_person(harness.db, name="Gus", email="gus@example.com", role="guest", now=now)
    await access.add_grant(harness.db, person_id=guest["_id"], door_id=device.door_id, actions=["unlock"], now=now)
    asked = await device.post("/api/v1/otp/request", {"action": "unlock", "person": guest["keypad"]})
    assert asked.status_code == 200
    harness.clock.advance(harness.settings.code_ttl_seconds)
    r = await device.verify(asked.json()["challenge_id"], harness.latest_code(1))
    assert r.status_code == 410 and r.json()["error"] == "expired"
    [expiry] = await harness.audit(event="expiry")
    assert expiry["person"] == guest["_id"] and expiry["challenge"] == asked.json()["challenge_id"]
    assert expiry["client"] == "192.0.2.7"


async def _burned_code(harness, device) -> str:
    cid = (await device.request_code()).json()["challenge_id"]
    wrong = "000000" if harness.latest_code(1) != "000000" else "111111"
    replies = [await device.verify(cid, wrong) for _ in range(harness.settings.max_attempts_per_code)]
    assert replies[-1].json()["error"] == "burned"
    harness.clock.advance(harness.settings.code_ttl_seconds)  # and now past its time too
    return cid


async def test_a_burned_code_stays_burned_once_its_time_is_up_whoever_notices(make_harness):
    """A burned code past its time was "expired" to a verify and to a new code request but
    "burned" to the expiry sweeper, so the reply to a late verify depended on whether the
    sweeper had run, and two of the three wrote an expiry event for a code already burned."""
    async with make_harness(failures_per_lockout=50) as h:
        device = await h.add_door()
        cid = await _burned_code(h, device)
        r = await device.verify(cid, h.latest_code(1))  # the verify notices
        assert r.status_code == 410 and r.json()["error"] == "burned"
        assert (await device.request_code()).status_code == 200  # a new code ends it
        door = await h.db.doors.find_one({"_id": device.door_id})
        assert [(e["id"], e["status"]) for e in door["ended"]] == [(cid, "burned")]
        assert (await device.verify(cid, h.latest_code(1))).json()["error"] == "burned"
        assert await h.audit(event="expiry") == []
        assert len(await h.audit(event="burned")) == 1


async def test_a_resent_verify_whose_outcome_a_racing_success_swallowed_is_answered_afresh(harness):
    """A wrong verify W and a right verify R of one code at once: R counts its attempt on a read
    of the code where W is still under way, W then settles, and R's consumption moves that read
    (W "under way") to the ended codes. W resent after a lost reply was told 409 in_progress for
    as long as the door remembered the code. The race is set up here by its end state: W's
    outcome put back to "under way" before R reads the door."""
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    code = harness.latest_code(1)
    w = await device.verify(cid, "000000" if code != "000000" else "111111")
    assert w.status_code == 403
    w_headers = device.last_request_headers
    w_nonce = next(iter((await harness.db.doors.find_one({"_id": device.door_id}))["pending"]["replies"]))
    await harness.db.doors.update_one(
        {"_id": device.door_id}, {"$set": {f"pending.replies.{w_nonce}.done": False}}
    )  # as R's read saw it
    assert (await device.verify(cid, code)).status_code == 200  # R
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["ended"][-1]["replies"][w_nonce]["done"] is False  # what the race leaves behind
    body = {"challenge_id": cid, "code": "000000" if code != "000000" else "111111"}
    again = await device.post("/api/v1/otp/verify", body, headers=w_headers)  # W, identical
    assert again.status_code == 410 and again.json()["error"] == "used"


async def test_a_late_verify_of_an_older_code_is_audited_and_leaves_the_live_code_alone(harness):
    """A verify of an older, expired code ended the door's live code too when that one was past
    its time as well, and wrote the live code's expiry event instead of the verify's refusal."""
    device = await harness.add_door()
    ttl = harness.settings.code_ttl_seconds
    old = (await device.request_code()).json()["challenge_id"]
    harness.clock.advance(ttl)
    live = (await device.request_code()).json()["challenge_id"]  # the old one ends: expired
    harness.clock.advance(ttl)  # the live one is past its time too; nobody has noticed yet
    r = await device.verify(old, harness.latest_code(2))
    assert r.status_code == 410 and r.json()["error"] == "expired"
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["pending"]["id"] == live
    [refused] = await harness.audit(event="verify")
    assert (refused["outcome"], refused["reason"]) == ("failure", "expired")
    assert [e["challenge"] for e in await harness.audit(event="expiry")] == [old]
