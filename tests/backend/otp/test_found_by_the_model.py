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
