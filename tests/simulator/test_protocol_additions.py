"""The protocol additions end to end: the simulator (the firmware's own state machine and
Exchange rules) against the real backend over real HTTP: a door whose clock is off, a lost
reply, offline codes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse

import pytest

from doorlogic import screens, totp
from doorlogic.statemachine import OFFLINE
from smartdoor.simulator.device import SimulatedDevice
from smartdoor.simulator.hardware import LOCK_ANGLE, UNLOCK_ANGLE
from smartdoor.simulator.transport import http_transport
from tests.conftest import TEST_SECRET_KEY
from tests.simulator.test_simulated_device import Ms, request_code, type_code


def started(backend, transport=None):
    door_id, secret = backend.add_door()
    device = SimulatedDevice(backend.url, door_id, secret, transport=transport)
    ms = Ms()
    device.start(ms())
    return device, ms


def test_state_reports_reach_an_older_backend_too(backend):
    # the boot report carries the new fields; a backend that refuses them (422) still gets
    # the v1 fields, so the door's state is known either way
    device, _ms = started(backend)
    assert device.machine.last_report.kind == "ok"


@pytest.mark.parametrize("offset", [1000, -1000])
def test_a_door_clock_1000_s_off_unlocks_on_the_first_key_press(backend, offset):
    """The first request is refused as stale with a *signed* reply carrying the server's time;
    the door sets its clock from it and sends again, all inside the one key press."""
    device, ms = started(backend)
    device.clock.set_epoch(int(time.time()) + offset, "ntp")
    code = request_code(device, ms, backend)  # one press of *
    assert abs(device.clock.now() - time.time()) <= 5 and device.clock.source == "server"
    type_code(device, ms, code)
    assert device.machine.last_result.kind == "ok", device.machine.last_result
    assert device.servo.angle == UNLOCK_ANGLE and device.lcd.lines == screens.done("unlock")
    stale = backend.call(backend.db.audit.find({"event": "unauthenticated"}).to_list())
    assert stale == []  # signed, so not counted as noise; nothing else was refused


def test_an_unsigned_stale_reply_does_not_set_the_clock(backend):
    """A machine in the middle answering 401 stale_request with its own time is ignored."""

    def forge_stale(method, url, headers, body, timeout_ms=None):
        return 401, {"content-type": "application/json"}, json.dumps(
            {"status": "error", "error": "stale_request", "server_time": 1}).encode()  # fmt: skip

    device, ms = started(backend, transport=forge_stale)
    before = device.clock.now()
    device.press("*", ms())
    device.press("#", ms())
    for _ in range(20):
        device.tick(ms(100))
    assert abs(device.clock.now() - before) <= 5 and device.servo.angle == LOCK_ANGLE


def test_a_lost_verify_reply_is_recovered_by_resending_the_identical_request(backend):
    transport = http_transport()
    lost = []

    def lose_the_first_verify_reply(method, url, headers, body, timeout_ms=None):
        reply = transport(method, url, headers, body, timeout_ms)
        if url.endswith("/api/v1/otp/verify") and not lost:
            lost.append(reply[0])  # the backend handled it; the reply never arrives
            raise OSError(110, "reply lost")
        return reply

    device, ms = started(backend, transport=lose_the_first_verify_reply)
    code = request_code(device, ms, backend)
    type_code(device, ms, code)
    assert lost == [200]
    assert device.machine.last_result.kind == "ok", device.machine.last_result
    assert device.servo.angle == UNLOCK_ANGLE and device.lcd.lines == screens.done("unlock")
    assert device.servo.moves.count(UNLOCK_ANGLE) == 1  # moved exactly once
    uses = backend.call(
        backend.db.audit.find({"door": device.door_id, "event": "verify", "outcome": "success"}).to_list()
    )
    assert len(uses) == 1  # the audit shows one use
    assert len(backend.call(backend.db.audit.find({"door": device.door_id, "event": "resent"}).to_list())) == 1


def enroll(backend, door_id: str) -> bytes:
    """`smartdoor door offline-enroll ID --json` on the test's database: the TOTP secret."""
    env = dict(
        os.environ,
        MONGO_URL=backend.settings.mongo_url,
        MONGO_DB=backend.settings.mongo_db,
        SECRET_KEY=TEST_SECRET_KEY,
        DATA_DIR=str(backend.settings.data_dir),
    )
    r = subprocess.run(
        [sys.executable, "-m", "smartdoor.cli", "door", "offline-enroll", door_id, "--label", "Test phone", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    uri = json.loads(r.stdout)["uri"]
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def test_offline_code_from_an_authenticator_opens_and_the_use_is_uploaded(backend):
    device, ms = started(backend)
    key = enroll(backend, device.door_id)
    for k in "AA":  # diagnostics: the signed state report brings the credentials
        device.press(k, ms())
        device.tick(ms())
    assert device.vault.creds, device.machine.last_report
    device.press("C", ms())
    device.set_network(False)
    device.press("*", ms())
    device.tick(ms())
    assert device.machine.state == OFFLINE and device.lcd.lines == screens.offline_entry(0)
    for digit in totp.hotp(key, totp.step_of(device.clock.now())):
        device.press(digit, ms())
    assert device.servo.angle == UNLOCK_ANGLE and device.lcd.lines == screens.done("unlock", "(offline)")
    device.set_network(True)
    device.press("#", ms())  # back online: the next call succeeds and the use goes up
    device.tick(ms())
    device.tick(ms(31000))
    device.tick(ms())
    assert device.vault.pending() is None
    audit = backend.call(backend.db.audit.find({"door": device.door_id, "event": "offline_use"}).to_list())
    assert len(audit) == 1 and audit[0].get("label") == "Test phone"
    assert device.servo.moves[0] == LOCK_ANGLE
