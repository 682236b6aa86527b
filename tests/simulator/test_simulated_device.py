"""End to end in CPython over real HTTP: the firmware's own DoorMachine (doorlogic) with the
simulator's virtual drivers and urllib transport <-> the real backend (uvicorn, embedded DB
over a socket) <-> the SMTP sink. The machine's millisecond clock is ours, so no sleeps."""

from __future__ import annotations

import socket

import pytest

from doorlogic import screens
from doorlogic.statemachine import DONE, ENTRY, MESSAGE, READY, SENT
from smartdoor.audit.service import query
from smartdoor.simulator.device import SimulatedDevice
from smartdoor.simulator.hardware import LOCK_ANGLE, UNLOCK_ANGLE
from smartdoor.simulator.transport import http_transport
from tests.conftest import code_in


class Ms:
    """A controllable millisecond clock for the machine."""

    def __init__(self) -> None:
        self.t = 1_000

    def __call__(self, advance: int = 10) -> int:
        self.t += advance
        return self.t


def started_device(backend, transport=None):
    door_id, secret = backend.add_door()
    device = SimulatedDevice(backend.url, door_id, secret, transport=transport)
    ms = Ms()
    device.start(ms())
    assert device.lcd.lines == screens.ready()
    return device, ms


def request_code(device, ms, backend, mails_before: int = 0, key: str = "*", person: str = "") -> str:
    device.press(key, ms())
    assert device.lcd.lines == screens.person("")
    for digit in person + "#":  # no number: the door's shared codes
        device.press(digit, ms())
    assert device.lcd.lines == screens.sending("unlock" if key == "*" else "lock")
    device.tick(ms())  # the signed code request goes out here (blocking, real HTTP)
    assert device.machine.state == SENT, device.machine.last_result
    assert device.lcd.lines == screens.sent()
    return code_in(backend.sink.wait_for(mails_before + 1, timeout=10)[0])


def type_code(device, ms, code: str) -> None:
    for digit in code:
        device.press(digit, ms())
    device.tick(ms())  # the verify (and the state report) go out here


def events(backend, door_id):
    return backend.call(query(backend.db, door=door_id))


def test_press_star_read_mail_type_code_unlocks(backend):
    device, ms = started_device(backend)
    code = request_code(device, ms, backend)
    mail = backend.sink.messages()[0]
    assert mail["to"] == ["alice@example.com"] and len(code) == 6

    type_code(device, ms, code)
    assert device.servo.angle == UNLOCK_ANGLE and device.servo.moves == [LOCK_ANGLE, UNLOCK_ANGLE]
    assert device.servo.state == "unlocked"
    assert device.machine.state == DONE
    assert device.lcd.lines == screens.done("unlock") == ("Door Unlocked", "Welcome")
    assert device.machine.last_report.kind == "ok"
    assert device.buzzer.names()[-1] == "action"

    audit = events(backend, device.door_id)
    seen = [(e["event"], e["outcome"]) for e in audit]
    for expected in [
        ("code_request", "success"),
        ("mail_delivery", "success"),
        ("verify", "success"),
        ("state_report", "info"),
    ]:
        assert expected in seen, seen
    states = [e.get("state") for e in audit if e["event"] == "state_report" and e["outcome"] == "info"]
    assert states == ["locked", "unlocked"]  # the boot report, then the change
    # the done screen goes back to Ready after its time
    device.tick(ms())
    device.tick(ms(3000))
    assert device.lcd.lines == screens.ready()


def test_wrong_code_shows_attempts_left_and_keeps_the_door_locked(backend):
    device, ms = started_device(backend)
    code = request_code(device, ms, backend)
    wrong = "".join(str((int(c) + 1) % 10) for c in code)

    type_code(device, ms, wrong)
    assert device.machine.state == MESSAGE
    assert device.lcd.lines == screens.wrong_code(4) == ("Wrong code", "4 tries left")
    assert device.servo.angle == LOCK_ANGLE and device.servo.moves == [LOCK_ANGLE]
    assert device.buzzer.names()[-1] == "error"
    assert ("wrong_code", "failure") in [(e["event"], e["outcome"]) for e in events(backend, device.door_id)]

    # after the message the same code can still be typed, and then it works
    device.tick(ms())
    device.tick(ms(3000))
    assert device.machine.state == ENTRY
    type_code(device, ms, code)
    assert device.servo.angle == UNLOCK_ANGLE and device.lcd.lines == screens.done("unlock")


def test_tampered_reply_signature_never_moves_the_servo(backend):
    transport = http_transport()
    tampered = []

    def flip_verify_signature(method, url, headers, body):
        status, reply_headers, reply_body = transport(method, url, headers, body)
        if url.endswith("/api/v1/otp/verify"):
            sig = reply_headers["signature"]  # sig1=:<base64>:
            i = sig.index(":") + 5
            reply_headers["signature"] = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
            tampered.append((status, sig, reply_headers["signature"]))
        return status, reply_headers, reply_body

    device, ms = started_device(backend, transport=flip_verify_signature)
    code = request_code(device, ms, backend)
    type_code(device, ms, code)

    assert tampered and tampered[0][0] == 200  # the backend said yes...
    assert device.machine.last_result.kind == "bad_signature"
    assert device.servo.moves == [LOCK_ANGLE] and device.servo.angle == LOCK_ANGLE  # ...but the door did not move
    assert device.lcd.lines == screens.bad_signature() == ("Server untrusted", "Door not moved")
    audit = [(e["event"], e["outcome"]) for e in events(backend, device.door_id)]
    assert ("verify", "success") in audit and audit.count(("state_report", "info")) == 1  # the boot report only
    device.tick(ms())
    device.tick(ms(3000))
    assert device.machine.state == READY


def test_lock_flow_moves_servo_to_90(backend):
    device, ms = started_device(backend)
    code = request_code(device, ms, backend, key="#")
    type_code(device, ms, code)
    assert device.servo.moves == [LOCK_ANGLE, LOCK_ANGLE] and device.lcd.lines == screens.done("lock")


def test_http_transport_returns_error_replies_and_raises_oserror_when_unreachable(backend):
    transport = http_transport(timeout_s=5)
    status, headers, body = transport(
        "POST", backend.url + "/api/v1/otp/request", {"Content-Type": "application/json"}, b'{"action":"unlock"}'
    )
    assert status == 401 and headers["content-type"].startswith("application/json")
    assert b'"status":"error"' in body.replace(b" ", b"")
    status, headers, body = transport("GET", backend.url + "/api/v1/time", {}, None)
    assert status == 200 and b"epoch" in body

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(OSError):
        transport("GET", f"http://127.0.0.1:{free}/api/v1/time", {}, None)


def test_unreachable_backend_shows_no_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    device = SimulatedDevice(f"http://127.0.0.1:{free}", "dnowhere", "00" * 32)
    ms = Ms()
    device.start(ms())
    device.press("*", ms())
    device.press("#", ms())
    device.tick(ms())
    assert device.lcd.lines == screens.unreachable() and device.servo.moves == [LOCK_ANGLE]
