"""The seed's routes, exactly as the seed's Arduino sketch sends them."""

from __future__ import annotations

from tests.conftest import code_in


async def test_legacy_routes_404_when_off(harness):
    for path, body in (("/send-otp", {"otp": "1234", "mode": "unlock"}), ("/verify-otp", {"otp": "1234"})):
        r = await harness.http.post(path, json=body)
        assert r.status_code == 404 and r.json()["status"] == "error"


async def test_seed_sketch_flow(make_harness):
    async with make_harness(legacy_api=True, legacy_door="Seed door", recipients="a@example.com,b@example.com") as h:
        # the sketch picks "its" code; the server ignores it but for its length
        r = await h.http.post("/send-otp", json={"otp": "1234", "mode": "unlock"})
        assert r.status_code == 200
        assert r.json() == {
            "status": "success",
            "message": "OTP sent successfully",
            "recipients": ["a@example.com", "b@example.com"],
            "mode": "unlock",
        }
        code = code_in(h.sink.wait_for(1)[0])
        assert len(code) == 4
        r = await h.http.post("/verify-otp", json={"otp": code})
        assert r.status_code == 200
        assert r.json() == {"status": "success", "message": "OTP verified successfully", "mode": "unlock"}
        r = await h.http.post("/verify-otp", json={"otp": code})  # single use
        assert r.status_code == 400 and r.json() == {"detail": "Invalid OTP"}
        door = await h.db.doors.find_one({"name": "Seed door"})
        events = [e["event"] for e in await h.audit(door=door["_id"])]
        assert events == ["code_request", "mail_delivery", "verify", "verify"]
        stored = await h.db.challenges.find_one({"door": door["_id"]})
        assert code not in str(stored)


async def test_seed_wrong_expired_and_limits(make_harness):
    async with make_harness(legacy_api=True, recipients="ops@example.com") as h:
        await h.http.post("/send-otp", json={"otp": "5839", "mode": "lock"})
        code = code_in(h.sink.wait_for(1)[0])
        bad = "0000" if code != "0000" else "1111"
        r = await h.http.post("/verify-otp", json={"otp": bad})
        assert r.status_code == 400 and r.json() == {"detail": "Invalid OTP"}
        h.clock.advance(121)
        r = await h.http.post("/verify-otp", json={"otp": code})
        assert r.status_code == 400 and r.json() == {"detail": "OTP expired"}
        # attempt limits hold here too: 5 consecutive failures lock the door out
        h.clock.advance(1000)
        await h.http.post("/send-otp", json={"otp": "5839", "mode": "lock"})
        code = code_in(h.sink.wait_for(2)[0])
        bad = "0000" if code != "0000" else "1111"
        replies = [await h.http.post("/verify-otp", json={"otp": bad}) for _ in range(4)]
        assert replies[-1].status_code == 429 and "Retry-After" in replies[-1].headers
        r = await h.http.post("/verify-otp", json={"otp": code})
        assert r.status_code == 429


async def test_seed_bad_input(make_harness):
    async with make_harness(legacy_api=True, recipients="ops@example.com") as h:
        for body in ({"otp": "12", "mode": "unlock"}, {"otp": "1234", "mode": "open"}, {"mode": "lock"}):
            r = await h.http.post("/send-otp", json=body)
            assert r.status_code == 422 and r.json()["status"] == "error"
        r = await h.http.post("/send-otp", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 422
        r = await h.http.post("/verify-otp", json={"otp": "12a4"})
        assert r.status_code == 400
        assert await h.db.challenges.count_documents({}) == 0


async def test_seed_send_rate_limited(make_harness):
    async with make_harness(legacy_api=True, recipients="ops@example.com") as h:
        codes = [(await h.http.post("/send-otp", json={"otp": "1234", "mode": "lock"})).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
