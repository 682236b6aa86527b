# The door state machine on CPython with fakes that record every call, over a fake backend
# that signs its replies for real (doorlogic.httpsig_server.sign_reply).
import pytest
from test_statemachine_mp import FakeServer, Rig

from doorlogic import screens

REQ = "/api/v1/otp/request"
VER = "/api/v1/otp/verify"


def err(code, msg="x", **extra):
    body = {"status": "error", "error": code, "message": msg}
    body.update(extra)
    return body


def paths(r):
    return [p for _m, p, _b in r.server.requests]


def test_unlock_flow_screens_and_sounds():
    r = Rig()
    r.press("*#")
    r.run_until("entry")
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"] and r.servo.angle == 0
    shown = r.display.history
    for screen in [
        ("Press # or *", "#=Lock *=Unlock"),
        ("Your number:", "none? press #"),
        ("Sending OTP...", "to unlock"),
        ("OTP Sent!", "Check Email"),
        ("Unlock code:", "______"),
        ("Unlock code:", "*_____"),
        ("Unlock code:", "*****_"),
        ("Verifying...", "Please wait"),
        ("Door Unlocked", "Welcome"),
    ]:
        assert screen in shown
    assert r.buzzer.calls == ["startup", "key", "key", "success"] + ["key"] * 6 + ["action"]
    assert paths(r) == ["/api/v1/state", REQ, VER, "/api/v1/state"]  # boot report first
    assert r.machine.door == "unlocked"
    r.run(3010)
    assert r.state() == "ready" and r.display.lines == screens.ready()


def test_lock_flow():
    r = Rig()
    r.press("##")
    r.run_until("entry")
    r.press("123456")
    assert r.servo.calls == ["lock", "lock"] and r.servo.angle == 90
    assert r.display.lines[0] == "Door Locked"
    assert r.server.requests[-1][2]["state"] == "locked"


def test_sent_screen_lasts_two_seconds_and_typing_skips_it():
    r = Rig()
    r.press("*#")
    t = r.run_until("entry")
    assert 2000 <= t <= 2002
    r2 = Rig()
    r2.press("*#")
    r2.press("1")
    assert r2.state() == "entry" and r2.display.lines[1] == "*_____"


def test_digits_from_reply():
    r = Rig(server=FakeServer(code="12345678", digits=8))
    r.to_entry()
    assert r.display.lines[1] == "________"
    r.press("1234567")
    assert r.state() == "entry"
    r.press("8")
    assert r.servo.calls == ["lock", "unlock"]


def test_hash_submits_early_and_extra_digits_ignored():
    r = Rig()
    r.to_entry()
    r.press("#")  # nothing typed: no submit
    assert r.state() == "entry"
    r.press("12#")
    assert r.server.requests[-1][2] == {"challenge_id": "ch1", "code": "12"}
    assert r.display.lines == ("Wrong code", "4 tries left")


def test_delete_and_letters():
    r = Rig()
    r.to_entry()
    r.press("12DD3AB*")
    assert r.display.lines[1] == "*_____"
    r.press("D")
    assert r.display.lines[1] == "______"
    r.press("D")  # nothing to delete
    assert r.state() == "entry"
    r.press("123456")
    assert r.server.requests[-2][2]["code"] == "123456"


def test_cancel_goes_back_to_ready_without_network():
    r = Rig()
    r.to_entry()
    r.press("12C")
    assert r.state() == "ready" and r.display.lines == screens.ready()
    assert VER not in paths(r)
    assert r.servo.calls == ["lock"]


def test_idle_timeout_exactly_30s_after_last_key():
    r = Rig()
    r.press("*#")
    r.run_until("entry")
    r.run(10000, step=1)
    r.press("5")
    r.run(29999, step=1)
    assert r.state() == "entry"
    r.run(1, step=1)
    assert r.state() == "ready"
    assert VER not in paths(r)


def test_wrong_code_then_right_code():
    r = Rig()
    r.to_entry()
    r.press("000000")
    assert r.display.lines == ("Wrong code", "4 tries left")
    assert r.buzzer.calls[-1] == "error" and r.servo.calls == ["lock"]
    r.press("7")  # any key dismisses the message, back to an empty entry
    assert r.state() == "entry" and r.display.lines[1] == "______"
    r.press("000000")
    assert r.display.lines == ("Wrong code", "3 tries left")
    r.run(3010)
    assert r.state() == "entry"
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"]


def test_last_wrong_code_goes_to_ready():
    r = Rig()
    r.to_entry()
    r.server.queue(VER, 403, err("wrong_code", attempts_left=0))
    r.press("000000")
    assert r.display.lines == ("Wrong code", "Request new code")
    r.run(3010)
    assert r.state() == "ready"


@pytest.mark.parametrize(
    "status,body,lines",
    [
        (410, err("expired"), ("Code expired", "Request new code")),
        (410, err("burned"), ("Code expired", "Request new code")),
        (404, err("unknown_challenge"), ("Code expired", "Request new code")),
        (429, err("locked_out", retry_after=120), ("Locked out", "Wait 120s")),
        (429, err("hard_lockout"), ("Locked out", "Ask admin")),
        (429, err("rate_limited", retry_after=30), ("Too many tries", "Wait 30s")),
        (503, err("db_unavailable", retry_after=5), ("Server busy", "Try again later")),
        (401, err("replayed_request", "replayed"), ("Server error", "replayed")),
    ],
)
def test_verify_failures(status, body, lines):
    r = Rig()
    r.to_entry()
    r.server.queue(VER, status, body)
    r.press("123456")
    assert r.display.lines == lines
    assert r.buzzer.calls[-1] == "error"
    assert r.servo.calls == ["lock"]
    r.run(3010)
    assert r.state() == "ready"


@pytest.mark.parametrize(
    "status,body,lines",
    [
        (429, err("rate_limited", retry_after=900), ("Too many tries", "Wait 900s")),
        (429, err("locked_out", retry_after=60), ("Locked out", "Wait 60s")),
        (503, err("db_unavailable"), ("Server busy", "Try again later")),
        (422, err("invalid_input", "bad action"), ("Send failed", "bad action")),
    ],
)
def test_request_failures(status, body, lines):
    r = Rig()
    r.server.queue(REQ, status, body)
    r.press("##")
    assert r.state() == "message" and r.display.lines == lines
    assert r.buzzer.calls[-1] == "error"
    r.run(3010)
    assert r.state() == "ready"


def test_partial_success_proceeds_with_note():
    r = Rig()
    r.server.queue(
        REQ, 200, {"status": "partial_success", "challenge_id": "ch1", "expires_in": 120, "digits": 6, "recipients": 2}
    )
    r.server.challenge, r.server.action = "ch1", "unlock"
    r.press("*#")
    assert r.display.lines == ("OTP Sent!", "Some mail failed")
    r.run_until("entry")
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"]


@pytest.mark.parametrize("attack", ["wrong_key", "unsigned", "unbound"])
def test_bad_reply_signature_never_moves_servo(attack):
    r = Rig()
    r.to_entry()
    setattr(r.server, attack, b"\x02" * 32 if attack == "wrong_key" else True)
    r.press("123456")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.servo.calls == ["lock"]
    assert r.display.lines == ("Server untrusted", "Door not moved")
    assert paths(r).count("/api/v1/state") == 1  # the boot report only: no state change
    r.run(3010)
    assert r.state() == "ready"


def test_unsigned_error_reply_is_bad_signature():
    r = Rig()
    r.server.unsigned = True
    r.server.queue(REQ, 429, err("locked_out", retry_after=5))
    r.press("*#")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.display.lines[0] == "Server untrusted"


def test_signed_success_for_other_action_does_not_move():
    r = Rig()
    r.to_entry("*")
    r.server.queue(VER, 200, {"status": "success", "action": "lock"})
    r.press("123456")
    assert r.servo.calls == ["lock"]
    assert r.display.lines == ("Bad reply", "Door not moved")


def test_unreachable_and_wifi_down():
    r = Rig()
    r.server.down = True
    r.press("*#")
    assert r.display.lines == ("No server", "Try again later")
    assert r.buzzer.calls[-1] == "error"
    r.run(3010)
    r.wifi[0] = False
    r.press("*")  # offline, and no offline codes: nothing to type
    assert r.display.lines == ("No server", "Try again later")
    # Wi-Fi lost during the call
    r2 = Rig()
    r2.to_entry()
    r2.server.down = True
    r2.wifi[0] = False
    r2.press("123456")
    assert r2.display.lines == ("WiFi down", "Check network")
    assert r2.servo.calls == ["lock"]


def test_servo_failure_reports_jammed():
    r = Rig()

    def broken():
        raise OSError("stall")

    r.servo.unlock = broken
    r.to_entry()
    r.press("123456")
    assert r.display.lines[0] == "Servo fault"
    assert r.server.requests[-1][2]["state"] == "jammed"


def test_report_failure_does_not_break_the_door():
    r = Rig()
    r.to_entry()
    r.server.queue("/api/v1/state", 503, err("db_unavailable"))
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"]
    assert r.display.lines[0] == "Door Unlocked"
    assert r.machine.last_report.kind == "error"


def test_diagnostics_pages():
    info = {"ip": "192.168.1.23", "gateway": "192.168.1.1", "rssi": -61}
    r = Rig(diagnostics=lambda: dict(info))
    r.press("A")
    assert r.state() == "diag"
    assert r.display.lines == ("IP 192.168.1.23", "RSSI -61 dBm")
    r.run(5010)
    assert r.display.lines == ("GW 192.168.1.1", "Server OK")
    assert paths(r)[-1] == "/api/v1/state"  # a signed state report: it brings offline codes too
    r.run(5010)
    assert r.state() == "ready"
    # A again flips pages by hand; server down shows so
    r.server.down = True
    r.press("A")
    r.press("A")
    assert r.display.lines == ("GW 192.168.1.1", "Server down")
    r.press("1")
    assert r.state() == "ready"


def test_diagnostics_with_a_broken_callable():
    def boom():
        raise OSError("no wlan")

    r2 = Rig(diagnostics=boom)
    r2.press("A")
    assert r2.display.lines == ("IP no IP", "RSSI ?")


def test_every_screen_fits_16x2():
    long = "x" * 40
    all_screens = [
        screens.booting(),
        screens.ready(),
        screens.sending("unlock"),
        screens.sent(False),
        screens.sent(True),
        screens.entry("unlock", 10, 10),
        screens.entry("lock", 0, 4),
        screens.verifying(),
        screens.done("lock"),
        screens.done("unlock"),
        screens.wifi_down(),
        screens.unreachable(),
        screens.send_failed(long),
        screens.wrong_code(None),
        screens.wrong_code(0),
        screens.wrong_code(1),
        screens.wrong_code(4),
        screens.expired(),
        screens.locked_out(None),
        screens.locked_out(3600),
        screens.rate_limited(None),
        screens.rate_limited(900),
        screens.bad_signature(),
        screens.server_busy(),
        screens.server_error(long),
        screens.servo_fault(long),
        screens.bad_reply(),
        screens.offline_entry(6),
        screens.done("unlock", "(offline)"),
        screens.exit_button(),
        screens.offline_wait(3599),
        screens.offline_unavailable("Clock not set"),
        screens.offline_wrong(3600),
        screens.ready(long),
        screens.config_error(long, 7),
        screens.diag_server("192.168.100.200", True, 16),
        screens.diag_net("192.168.100.200", -100),
        screens.diag_net(None, None),
        screens.diag_server("192.168.100.200", None),
        screens.diag_server(None, True),
    ]
    for line0, line1 in all_screens:
        assert len(line0) <= 16 and len(line1) <= 16, (line0, line1)
