# The door state machine on CPython with fakes that record every call, over a fake backend
# that signs its replies for real (doorlogic.httpsig.sign_reply).
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
    r.press("*")
    r.run_until("entry")
    r.press("123456")
    assert r.servo.calls == ["unlock"] and r.servo.angle == 0
    shown = r.display.history
    for screen in [
        ("Press # or *", "#=Lock *=Unlock"),
        ("Sending OTP...", "to unlock"),
        ("OTP Sent!", "Check Email"),
        ("Unlock code:", "______"),
        ("Unlock code:", "*_____"),
        ("Unlock code:", "*****_"),
        ("Verifying...", "Please wait"),
        ("Door Unlocked", "Welcome"),
    ]:
        assert screen in shown
    assert r.buzzer.calls == ["startup", "key", "success"] + ["key"] * 6 + ["action"]
    assert paths(r) == ["/api/v1/time", REQ, VER, "/api/v1/state"]
    assert r.machine.door == "unlocked"
    r.run(3010)
    assert r.state() == "ready" and r.display.lines == screens.ready()


def test_lock_flow():
    r = Rig()
    r.press("#")
    r.run_until("entry")
    r.press("123456")
    assert r.servo.calls == ["lock"] and r.servo.angle == 90
    assert r.display.lines[0] == "Door Locked"
    assert r.server.requests[-1][2]["state"] == "locked"


def test_sent_screen_lasts_two_seconds_and_typing_skips_it():
    r = Rig()
    r.press("*")
    t0 = r.now
    t = r.run_until("entry")
    assert 2000 <= t - t0 <= 2002
    r2 = Rig()
    r2.press("*")
    r2.press("1")
    assert r2.state() == "entry" and r2.display.lines[1] == "*_____"


def test_digits_from_reply():
    r = Rig(server=FakeServer(code="12345678", digits=8))
    r.to_entry()
    assert r.display.lines[1] == "________"
    r.press("1234567")
    assert r.state() == "entry"
    r.press("8")
    assert r.servo.calls == ["unlock"]


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
    assert r.servo.calls == []


def test_idle_timeout_exactly_30s_after_last_key():
    r = Rig()
    r.press("*")
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
    assert r.buzzer.calls[-1] == "error" and r.servo.calls == []
    r.press("7")  # any key dismisses the message, back to an empty entry
    assert r.state() == "entry" and r.display.lines[1] == "______"
    r.press("000000")
    assert r.display.lines == ("Wrong code", "3 tries left")
    r.run(3010)
    assert r.state() == "entry"
    r.press("123456")
    assert r.servo.calls == ["unlock"]


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
    assert r.servo.calls == []
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
    r.press("#")
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
    r.press("*")
    assert r.display.lines == ("OTP Sent!", "Some mail failed")
    r.run_until("entry")
    r.press("123456")
    assert r.servo.calls == ["unlock"]


@pytest.mark.parametrize("attack", ["wrong_key", "unsigned", "unbound"])
def test_bad_reply_signature_never_moves_servo(attack):
    r = Rig()
    r.to_entry()
    setattr(r.server, attack, b"\x02" * 32 if attack == "wrong_key" else True)
    r.press("123456")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.servo.calls == []
    assert r.display.lines == ("Server untrusted", "Door not moved")
    assert "/api/v1/state" not in paths(r)
    r.run(3010)
    assert r.state() == "ready"


def test_unsigned_error_reply_is_bad_signature():
    r = Rig()
    r.server.unsigned = True
    r.server.queue(REQ, 429, err("locked_out", retry_after=5))
    r.press("*")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.display.lines[0] == "Server untrusted"


def test_signed_success_for_other_action_does_not_move():
    r = Rig()
    r.to_entry("*")
    r.server.queue(VER, 200, {"status": "success", "action": "lock"})
    r.press("123456")
    assert r.servo.calls == []
    assert r.display.lines == ("Bad reply", "Door not moved")


def test_unreachable_and_wifi_down():
    r = Rig()
    r.server.down = True
    r.press("*")
    assert r.display.lines == ("No server", "Try again later")
    assert r.buzzer.calls[-1] == "error"
    r.run(3010)
    r.wifi[0] = False
    r.press("*")
    assert r.display.lines == ("WiFi down", "Check network")
    # Wi-Fi lost during the call
    r2 = Rig()
    r2.to_entry()
    r2.server.down = True
    r2.wifi[0] = False
    r2.press("123456")
    assert r2.display.lines == ("WiFi down", "Check network")
    assert r2.servo.calls == []


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
    assert r.servo.calls == ["unlock"]
    assert r.display.lines[0] == "Door Unlocked"
    assert r.machine.last_report.kind == "error"


def test_keys_while_busy_are_ignored():
    r = Rig()
    r.machine.key("*", r.now)
    assert r.state() == "sending"
    r.machine.key("#", r.now)
    r.machine.key("C", r.now)
    assert r.state() == "sending"
    r.machine.tick(r.now)
    assert r.state() == "sent"
    assert [p for p in paths(r) if p == REQ] == [REQ]


def test_diagnostics_pages():
    info = {"ip": "192.168.1.23", "gateway": "192.168.1.1", "rssi": -61}
    r = Rig(diagnostics=lambda: dict(info))
    r.press("A")
    assert r.state() == "diag"
    assert r.display.lines == ("IP 192.168.1.23", "RSSI -61 dBm")
    r.run(5010)
    assert r.display.lines == ("GW 192.168.1.1", "Server OK")
    assert paths(r)[-1] == "/api/v1/time"
    r.run(5010)
    assert r.state() == "ready"
    # A again flips pages by hand; server down shows so
    r.server.down = True
    r.press("A")
    r.press("A")
    assert r.display.lines == ("GW 192.168.1.1", "Server down")
    r.press("1")
    assert r.state() == "ready"


def test_diagnostics_supplied_server_flag_and_broken_callable():
    r = Rig(diagnostics=lambda: {"ip": "10.0.0.2", "gateway": "10.0.0.1", "rssi": -50, "server": False})
    r.press("AA")
    assert r.display.lines == ("GW 10.0.0.1", "Server down")

    def boom():
        raise OSError("no wlan")

    r2 = Rig(diagnostics=boom)
    r2.press("A")
    assert r2.display.lines == ("IP no IP", "RSSI ?")


def test_every_screen_fits_16x2():
    long = "x" * 40
    all_screens = [
        screens.booting(),
        screens.no_config(),
        screens.wifi_connecting(long),
        screens.time_sync(),
        screens.fatal(long),
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
        screens.diag_net("192.168.100.200", -100),
        screens.diag_net(None, None),
        screens.diag_server("192.168.100.200", None),
        screens.diag_server(None, True),
    ]
    for line0, line1 in all_screens:
        assert len(line0) <= 16 and len(line1) <= 16, (line0, line1)


# --- firmware/main.py itself, on CPython with fake machine / network / requests ----------
import os
import runpy
import sys
import time
import types

MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "firmware", "main.py")
KEYS = "123A456B789C*0#D"


class _Stop(BaseException):
    pass


class _Board:
    """Fake machine + network modules; a key schedule drives the keypad matrix."""

    def __init__(self, server, schedule, end_ms):
        self.server = server
        self.ms = 0
        self.schedule = list(schedule)  # (at_ms, key or None)
        self.pressed = None
        self.end_ms = end_ms
        self.rows = {}
        self.pwm = {}
        self.lcd = []
        self.connected = True

    def modules(self):
        board = self
        m = types.ModuleType("machine")

        class Pin:
            OUT, IN, PULL_UP = 1, 2, 3

            def __init__(self, n, mode=None, pull=None, value=None):
                self.n, self.v = n, value

            def value(self, v=None):
                if v is not None:
                    self.v = v
                    return None
                if self.n in (33, 32, 18, 19) and board.pressed:
                    i = KEYS.index(board.pressed)
                    row = (14, 27, 26, 25)[i // 4]
                    col = (33, 32, 18, 19)[i % 4]
                    if self.n == col and board.rows[row].v == 0:
                        return 0
                    return 1
                return 1 if self.v is None else self.v

        orig_init = Pin.__init__

        def pin_init(self, n, mode=None, pull=None, value=None):
            orig_init(self, n, mode, pull, value)
            if n in (14, 27, 26, 25):
                board.rows[n] = self

        Pin.__init__ = pin_init

        class I2C:
            def __init__(self, *a, **k):
                pass

            def writeto(self, addr, buf):
                assert addr == 0x27

        class PWM:
            def __init__(self, pin, freq=None, duty_u16=None):
                self.pin = pin.n
                self.ns = None
                board.pwm[pin.n] = self

            def freq(self, f=None):
                pass

            def duty_u16(self, d=None):
                pass

            def duty_ns(self, ns=None):
                self.ns = ns

        m.Pin, m.I2C, m.PWM = Pin, I2C, PWM
        m.reset = lambda: (_ for _ in ()).throw(AssertionError("machine.reset called"))

        n = types.ModuleType("network")
        n.STA_IF, n.AP_IF = 0, 1

        class WLAN:
            def __init__(self, iface):
                pass

            def active(self, on=None):
                return True

            def isconnected(self):
                return board.connected

            def connect(self, ssid, pw):
                pass

            def disconnect(self):
                pass

            def ifconfig(self):
                return ("192.168.1.50", "255.255.255.0", "192.168.1.1", "1.1.1.1")

            def status(self, what=None):
                return -58

        n.WLAN = WLAN

        r = types.ModuleType("requests")

        class Resp:
            def __init__(self, status, headers, content):
                self.status_code, self.content = status, content
                self.headers = {k.title(): v for k, v in headers.items()}

            def close(self):
                pass

        def request(method, url, data=None, headers=None, timeout=None):
            return Resp(*board.server(method, url, headers or {}, data))

        r.request = request

        ntp = types.ModuleType("ntptime")

        def settime():
            raise OSError(110, "ETIMEDOUT")

        ntp.settime = settime
        cfg = types.ModuleType("config")
        cfg.WIFI_SSID, cfg.WIFI_PASSWORD = "lab", "pw"
        cfg.BACKEND_URL = "http://10.0.0.5:8000"
        cfg.DOOR_ID = "door-1"
        cfg.DOOR_SECRET = bytes(range(32)).hex()
        return {"machine": m, "network": n, "requests": r, "ntptime": ntp, "config": cfg}

    def ticks_ms(self):
        return self.ms

    def sleep_ms(self, ms):
        self.ms += ms
        while self.schedule and self.schedule[0][0] <= self.ms:
            self.pressed = self.schedule.pop(0)[1]
        if self.ms >= self.end_ms:
            raise _Stop()


def _run_main(monkeypatch, server, keys, end_ms, start_ms=4000):
    schedule = []
    t = start_ms
    for k in keys:
        schedule += [(t, k), (t + 150, None)]
        t += 300
    board = _Board(server, schedule, end_ms)
    for name, mod in board.modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(time, "ticks_ms", board.ticks_ms, raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    monkeypatch.setattr(time, "sleep_ms", board.sleep_ms, raising=False)
    from drivers.lcd import LCD

    real_show = LCD.show

    def show(self, line0, line1=""):
        board.lcd.append((line0, line1))
        return real_show(self, line0, line1)

    monkeypatch.setattr(LCD, "show", show)
    with pytest.raises(_Stop):
        runpy.run_path(MAIN, run_name="__main__")
    return board


def test_main_py_boots_diagnoses_and_unlocks(monkeypatch):
    server = FakeServer()
    board = _run_main(monkeypatch, server, "*" + "123456", end_ms=12000)
    assert board.lcd[0] == ("Smart Door", "Starting...")
    assert ("IP 192.168.1.50", "RSSI -58 dBm") in board.lcd
    assert ("GW 192.168.1.1", "Server OK") in board.lcd
    assert ("Press # or *", "#=Lock *=Unlock") in board.lcd
    assert ("Door Unlocked", "Welcome") in board.lcd, board.lcd[5:]
    assert board.pwm[23].ns == 500000  # servo at 0 degrees: 500 us
    assert server.rejected == []
    state = [b for _m, p, b in server.requests if p == "/api/v1/state"]
    assert state[0]["state"] == "unlocked" and state[0]["firmware"] and state[0]["rssi"] == -58


def test_main_py_without_config_shows_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "config", None)  # import config -> ImportError
    board = _Board(FakeServer(), [], 3000)
    mods = board.modules()
    del mods["config"]
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(time, "ticks_ms", board.ticks_ms, raising=False)
    monkeypatch.setattr(time, "sleep_ms", board.sleep_ms, raising=False)
    from drivers.lcd import LCD

    shown = []
    real_show = LCD.show
    monkeypatch.setattr(LCD, "show", lambda self, a, b="": (shown.append((a, b)), real_show(self, a, b)))
    with pytest.raises(_Stop):
        runpy.run_path(MAIN, run_name="__main__")
    assert shown[-1] == ("No config.py", "Copy example")
