"""The device API end to end over the embedded database and a real SMTP server."""

from __future__ import annotations

import asyncio

import pytest

from doorlogic import httpsig
from tests.conftest import SignedDevice


async def test_unlock_flow_signed_both_ways(harness):
    device = await harness.add_door(recipients=["alice@example.com"])
    r = await device.request_code("unlock")
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["status"] == "success" and reply["digits"] == 6 and reply["expires_in"] == 120
    assert reply["recipients"] == 1 and "code" not in reply
    mail = harness.sink.wait_for(1)[0]
    assert mail["to"] == ["alice@example.com"] and mail["multipart"]
    assert "Front door" in mail["text"] and "unlock" in mail["text"] and "2037-01-01 12:02:00 UTC" in mail["text"]
    assert harness.latest_code(1) in mail["html"]
    r = await device.verify(reply["challenge_id"], harness.latest_code(1))
    assert r.status_code == 200 and r.json() == {"status": "success", "action": "unlock"}
    # single use
    r = await device.verify(reply["challenge_id"], harness.latest_code(1))
    assert r.status_code == 410 and r.json()["error"] == "used"
    events = [e["event"] + ":" + e["outcome"] for e in await harness.audit(door=device.door_id)]
    assert events[:3] == ["code_request:success", "mail_delivery:success", "verify:success"]


async def test_code_is_stored_only_as_keyed_hash(harness):
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    code = harness.latest_code(1)
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["pending"]["id"] == cid
    assert code not in str(door) and len(door["pending"]["code_hash"]) == 64
    for event in await harness.audit():
        assert code not in str(event)


async def test_reply_signature_is_bound_to_its_request(harness):
    device = await harness.add_door()
    first = await device.request_code()
    first_headers = device.last_request_headers
    second = await device.request_code()
    assert device.reply_verifies(first, first_headers)
    assert not device.reply_verifies(first, device.last_request_headers)  # replayed onto another request
    tampered = first.content.replace(b"success", b"sUccess")
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert not httpsig.verify_reply(device.key, device.door_id, 200, headers, tampered, first_headers["Signature"])
    assert not httpsig.verify_reply(device.key, device.door_id, 201, headers, first.content, first_headers["Signature"])
    assert second.status_code == 200


async def test_new_code_supersedes_pending_one(harness):
    device = await harness.add_door()
    old = (await device.request_code()).json()["challenge_id"]
    old_code = harness.latest_code(1)
    new = (await device.request_code("lock")).json()["challenge_id"]
    r = await device.verify(old, old_code)
    assert r.status_code == 410 and r.json()["error"] == "superseded"
    r = await device.verify(new, harness.latest_code(2))
    assert r.json() == {"status": "success", "action": "lock"}
    assert [e["challenge"] for e in await harness.audit(event="superseded")] == [old]


async def test_expiry_at_120_seconds(harness):
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    harness.clock.advance(119)
    cid2 = cid
    r = await device.verify(cid2, "000000" if harness.latest_code(1) != "000000" else "111111")
    assert r.status_code == 403  # still live at 119 s: a wrong code is just wrong
    harness.clock.advance(1)
    r = await device.verify(cid, harness.latest_code(1))
    assert r.status_code == 410 and r.json()["error"] == "expired"
    assert (await harness.audit(event="expiry"))[0]["reason"] == "not used in time"  # one shape, whoever ends it


async def test_code_valid_just_before_expiry(harness):
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    harness.clock.advance(119.9)
    assert (await device.verify(cid, harness.latest_code(1))).status_code == 200


async def test_state_report_and_time(harness):
    device = await harness.add_door()
    report = {"state": "unlocked", "rssi": -61, "firmware": "0.1.0", "uptime": 42, "offline_version": 0}
    r = await device.post("/api/v1/state", report)
    assert r.json() == {"status": "ok", "server_time": int(harness.clock.now().timestamp())}
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["state"] == "unlocked" and door["rssi"] == -61
    r = await harness.http.get("/api/v1/time")
    assert r.json() == {"epoch": int(harness.clock.now().timestamp())}


async def test_mail_recipients_include_global_list(make_harness):
    async with make_harness(recipients="ops@example.com, bob@example.com") as h:
        device = await h.add_door(recipients=["alice@example.com"])
        assert (await device.request_code()).json()["recipients"] == 3
        assert sorted(h.sink.wait_for(1)[0]["to"]) == ["alice@example.com", "bob@example.com", "ops@example.com"]


@pytest.mark.slow
async def test_parallel_right_codes_exactly_one_success(harness):
    """10 rounds x 20 parallel verifies of the right code: exactly one success per round."""
    device = await harness.add_door()
    for round_no in range(10):
        if round_no and round_no % 5 == 0:
            harness.clock.advance(901)  # stay under 5 code requests per 15 min
        cid = (await device.request_code()).json()["challenge_id"]
        code = harness.latest_code(round_no + 1)
        replies = await asyncio.gather(*(device.verify(cid, code) for _ in range(20)))
        statuses = sorted(r.status_code for r in replies)
        assert statuses.count(200) == 1, statuses
        assert set(statuses) == {200, 410}
    assert len(await harness.audit(event="verify", outcome="success")) == 10


async def test_parallel_verifies_across_two_backends(make_harness):
    """Two app instances (as two processes would) on one database: still one success."""
    async with make_harness() as a:
        device = await a.add_door()
        async with make_harness(mongo_db=a.settings.mongo_db) as b:
            device_b = SignedDevice(b.http, device.door_id, device.key.hex(), a.clock)
            cid = (await device.request_code()).json()["challenge_id"]
            code = a.latest_code(1)
            replies = await asyncio.gather(*[(device if i % 2 else device_b).verify(cid, code) for i in range(20)])
            assert sorted(r.status_code for r in replies).count(200) == 1


async def test_challenge_survives_restart(make_harness):
    """A code issued before a backend restart verifies after it (state is all in MongoDB)."""
    async with make_harness(keep_db=True) as first:
        device = await first.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        code = first.latest_code(1)
        db_name, door_id, key = first.settings.mongo_db, device.door_id, device.key.hex()
    async with make_harness(mongo_db=db_name) as second:  # a new app, a new client
        again = SignedDevice(second.http, door_id, key, second.clock)
        r = await again.verify(cid, code)
        assert r.json() == {"status": "success", "action": "unlock"}


async def test_unused_codes_get_an_expiry_event(harness):
    from smartdoor.otp.expiry import expire_overdue

    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    assert await expire_overdue(harness.db, now=harness.clock.now(), max_attempts=5) == 0
    harness.clock.advance(120)
    assert await expire_overdue(harness.db, now=harness.clock.now(), max_attempts=5) == 1
    assert await expire_overdue(harness.db, now=harness.clock.now(), max_attempts=5) == 0  # once only
    [event] = await harness.audit(event="expiry")
    assert event["challenge"] == cid and event["action"] == "unlock" and event["door"] == device.door_id
    r = await device.verify(cid, harness.latest_code(1))
    assert r.status_code == 410 and r.json()["error"] == "expired"


async def test_a_door_record_from_the_previous_version_keeps_working(harness):
    """No `rev`, no `ended`, a pending code of the old shape (id and action only)."""
    device = await harness.add_door()
    await harness.db.doors.update_one(
        {"_id": device.door_id},
        {
            "$unset": {"rev": 1, "ended": 1, "sealed_code_key": 1},
            "$set": {"pending": {"id": "old" * 8, "action": "lock"}},
        },
    )
    await harness.db.ensure_indexes()  # what every start does
    r = await device.verify("old" * 8, "123456")
    assert r.status_code == 404 and r.json()["error"] == "unknown_challenge"
    cid = (await device.request_code()).json()["challenge_id"]
    assert (await device.verify(cid, harness.latest_code(1))).json() == {"status": "success", "action": "unlock"}
