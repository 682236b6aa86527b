"""Offline credentials: enrolled by the administrator, delivered only inside signed state
replies and encrypted for the way, uses uploaded once."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs, urlparse

from smartdoor.doors import offline

STATE = "/api/v1/state"
USES = "/api/v1/offline/uses"


def secret_of(uri: str) -> bytes:
    b32 = parse_qs(urlparse(uri).query)["secret"][0]
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def decrypt(block: dict, credential: dict, door_key: bytes) -> bytes:
    raw = bytes.fromhex(credential["secret"])
    pad = offline.transit_pad(door_key, block["nonce"], credential["id"], len(raw))
    return bytes(a ^ b for a, b in zip(raw, pad))


async def test_credentials_reach_the_door_only_signed_and_encrypted(harness, caplog):
    caplog.set_level(logging.DEBUG)
    device = await harness.add_door()
    credential, uri = await offline.enroll(
        harness.db, harness.services.keyring, door_id=device.door_id, label="Alice's phone", now=harness.clock.now()
    )
    assert uri.startswith("otpauth://totp/Smart%20Door%3AFront%20door%20%28Alice%27s%20phone%29?")
    assert "algorithm=SHA1" in uri and "digits=6" in uri and "period=30" in uri
    secret = secret_of(uri)
    assert len(secret) == 20

    r = await device.post(STATE, {"state": "locked", "event": "boot", "reset_cause": "power_on"})  # signature checked
    block = r.json()["offline"]
    assert block["version"] == 1 and len(block["nonce"]) == 32
    [sent] = block["credentials"]
    assert sent["id"] == credential["id"] and sent["label"] == "Alice's phone"
    assert secret.hex() not in r.text and decrypt(block, sent, device.key) == secret

    r = await device.post(STATE, {"state": "locked", "event": "heartbeat", "offline_version": 1})
    assert "offline" not in r.json()  # the door is up to date

    await offline.revoke(harness.db, door_id=device.door_id, credential_id=credential["id"])
    r = await device.post(STATE, {"state": "locked", "offline_version": 1})
    assert r.json()["offline"]["version"] == 2 and r.json()["offline"]["credentials"] == []

    stored = await harness.db.doors.find_one({"_id": device.door_id})
    everything = str(stored) + str(await harness.audit()) + caplog.text
    assert secret.hex() not in everything and base64.b32encode(secret).decode().rstrip("=") not in everything


async def test_offline_uses_are_audited_once(harness):
    device = await harness.add_door()
    credential, _ = await offline.enroll(
        harness.db, harness.services.keyring, door_id=device.door_id, label="Bob", now=harness.clock.now()
    )
    t = int(harness.clock.now().timestamp())
    uses = [{"credential": credential["id"], "step": t // 30 - 4, "at": t - 120, "action": "unlock"},
            {"credential": credential["id"], "step": t // 30 - 2, "at": t - 60, "action": "lock"}]  # fmt: skip
    body = json.dumps({"uses": uses, "wrong_codes": 2}).encode()
    headers = device.sign("POST", USES, body)
    r = await device.post(USES, raw=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"status": "ok", "accepted": 2}
    again = await device.post(USES, raw=body, headers=headers)  # the reply was lost: the same request again
    assert again.json() == {"status": "ok", "accepted": 2}
    later = await device.post(USES, {"uses": uses})  # a new upload of the same uses
    assert later.json() == {"status": "ok", "accepted": 0}
    events = await harness.audit(event="offline_use")
    assert [(e["action"], e["label"]) for e in events] == [("unlock", "Bob"), ("lock", "Bob")]
    assert (await harness.audit(event="offline_wrong_codes"))[0]["count"] == 2


async def test_exit_button_is_audited_and_heartbeats_are_not(harness):
    device = await harness.add_door()
    await device.post(STATE, {"state": "locked", "event": "boot", "heap": 81234, "offline_version": 0})
    for _ in range(3):
        await device.post(STATE, {"state": "locked", "event": "heartbeat", "uptime": 300, "offline_version": 0})
    await device.post(STATE, {"state": "unlocked", "event": "exit_button", "offline_version": 0})
    events = [(e["event"], e.get("reason")) for e in await harness.audit(door=device.door_id)]
    assert events == [("state_report", "boot"), ("exit_button", None)]
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["state"] == "unlocked" and door["heap"] == 81234


async def test_bad_uploads_are_422(harness):
    device = await harness.add_door()
    for body in ({"uses": [{"credential": "x", "step": -1, "at": 0, "action": "unlock"}]},
                 {"uses": [{"credential": "x" * 40, "step": 1, "at": 0, "action": "unlock"}]},
                 {"uses": [{"credential": "x", "step": 1, "at": 0, "action": "open"}]},
                 {"uses": [{"credential": "x", "step": 1, "at": 0, "action": "unlock"}] * 21}):  # fmt: skip
        r = await device.post(USES, body)
        assert r.status_code == 422
    assert await harness.audit(event="offline_use", outcome="success") == []
