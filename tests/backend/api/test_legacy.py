"""The original Arduino sketch's routes, exactly as the sketch sends them, and what limits
them: only listed client addresses, fixed 4-digit codes, a hard stop after 10 failures,
masked addresses in replies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smartdoor.settings import Settings
from tests.conftest import code_in

SKETCH = dict(legacy_api=True, legacy_allowed_clients="192.0.2.0/28", recipients="ops@example.com")


def other_code(code: str) -> str:
    return "0000" if code != "0000" else "1111"


async def test_legacy_routes_404_when_off(harness):
    for path, body in (("/send-otp", {"otp": "1234", "mode": "unlock"}), ("/verify-otp", {"otp": "1234"})):
        r = await harness.http.post(path, json=body)
        assert r.status_code == 404 and r.json()["status"] == "error"


def test_legacy_api_needs_allowed_clients():
    with pytest.raises(ValidationError, match="LEGACY_ALLOWED_CLIENTS"):
        Settings(_env_file=None, secret_key="x" * 40, legacy_api=True)
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(_env_file=None, secret_key="x" * 40, legacy_api=True, legacy_allowed_clients="door.lan")


async def test_sketch_flow(make_harness):
    async with make_harness(**{**SKETCH, "recipients": "alice@example.com,b@example.com"}, legacy_door="Old door") as h:
        # the sketch picks "its" code and sends it; the server ignores it entirely
        r = await h.http.post("/send-otp", json={"otp": "123456", "mode": "unlock"})
        assert r.status_code == 200
        assert r.json() == {
            "status": "success",
            "message": "OTP sent successfully",
            "recipients": ["a***@example.com", "b***@example.com"],  # never the addresses themselves
            "mode": "unlock",
        }
        code = code_in(h.sink.wait_for(1)[0])
        assert len(code) == 4  # fixed length: the sketch reads exactly 4 keys
        r = await h.http.post("/verify-otp", json={"otp": code})
        assert r.status_code == 200
        assert r.json() == {"status": "success", "message": "OTP verified successfully", "mode": "unlock"}
        r = await h.http.post("/verify-otp", json={"otp": code})  # single use
        assert r.status_code == 400 and r.json() == {"detail": "Invalid OTP"}
        door = await h.db.doors.find_one({"name": "Old door"})
        assert door["legacy"] is True
        events = [e["event"] for e in await h.audit(door=door["_id"])]
        assert events == ["code_request", "mail_delivery", "verify", "verify"]
        assert code not in str(door)


async def test_other_addresses_get_403_and_change_nothing(make_harness):
    async with make_harness(**{**SKETCH, "legacy_allowed_clients": "10.0.0.5"}) as h:
        for path, body in (("/send-otp", {"otp": "1234", "mode": "unlock"}), ("/verify-otp", {"otp": "1234"})):
            r = await h.http.post(path, json=body)
            assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert len(h.sink.messages()) == 0 and await h.db.doors.count_documents({}) == 0
        assert len(await h.audit(event="legacy_refused")) == 2


async def test_wrong_expired_and_lockout(make_harness):
    async with make_harness(**SKETCH) as h:
        await h.http.post("/send-otp", json={"otp": "5839", "mode": "lock"})
        code = code_in(h.sink.wait_for(1)[0])
        r = await h.http.post("/verify-otp", json={"otp": other_code(code)})
        assert r.status_code == 400 and r.json() == {"detail": "Invalid OTP"}
        h.clock.advance(121)
        r = await h.http.post("/verify-otp", json={"otp": code})
        assert r.status_code == 400 and r.json() == {"detail": "OTP expired"}
        # attempt limits hold here too: 5 consecutive failures lock the door out
        h.clock.advance(1000)
        await h.http.post("/send-otp", json={"otp": "5839", "mode": "lock"})
        code = code_in(h.sink.wait_for(2)[0])
        replies = [await h.http.post("/verify-otp", json={"otp": other_code(code)}) for _ in range(4)]
        assert replies[-1].status_code == 429 and "Retry-After" in replies[-1].headers
        r = await h.http.post("/verify-otp", json={"otp": code})
        assert r.status_code == 429


async def test_hard_stop_after_10_failures(make_harness):
    """10 guesses at a 10^4 space: P(guess) <= 10^-3, then an administrator must act."""
    async with make_harness(**SKETCH) as h:
        statuses = []
        for round_no in range(2):
            h.clock.advance(3601)  # past any wait
            await h.http.post("/send-otp", json={"otp": "1234", "mode": "unlock"})
            code = code_in(h.sink.wait_for(round_no + 1 + round_no)[0])  # (+ the lockout notice)
            for _ in range(5):
                statuses.append((await h.http.post("/verify-otp", json={"otp": other_code(code)})).status_code)
        assert statuses[-1] == 429
        door = await h.db.doors.find_one({"legacy": True})
        assert door["hard_locked"] is True and door["failures"] == 10
        h.clock.advance(86400)
        r = await h.http.post("/send-otp", json={"otp": "1234", "mode": "unlock"})
        assert r.status_code == 429


async def test_bad_input(make_harness):
    async with make_harness(**SKETCH) as h:
        for body in ({"otp": "12a4", "mode": "unlock"}, {"otp": "1234", "mode": "open"}, {"mode": "lock"}):
            r = await h.http.post("/send-otp", json=body)
            assert r.status_code == 422 and r.json()["status"] == "error"
        r = await h.http.post("/send-otp", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 422
        for otp in ("12a4", "12345", "١٢٣٤"):
            r = await h.http.post("/verify-otp", json={"otp": otp})
            assert r.status_code == 400
        assert await h.db.doors.count_documents({"pending": {"$ne": None}}) == 0


async def test_send_rate_limited(make_harness):
    async with make_harness(**SKETCH) as h:
        codes = [(await h.http.post("/send-otp", json={"otp": "1234", "mode": "lock"})).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
