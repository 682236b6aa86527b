# board.py on CPython: the real asyncio tasks with fake machine / network modules, talking
# HTTP over a real loopback socket to the signing fake backend. Shows that the keypad, the
# timers and the watchdog keep running during a slow call, that C cancels it, that a hung
# task stops the watchdog, and that a missing LCD or bad config never resets the board.
import asyncio
import contextlib
import http.server
import threading
import time
import types

import board
import pytest
import startup
from test_statemachine_mp import DOOR, EPOCH, KEY, FakeServer

from doorlogic import screens, settings
from drivers.lcd import SafeDisplay

KEYS = "123A456B789C*0#D"
ROWS = (14, 27, 26, 25)
COLS = (33, 32, 18, 19)


class Hardware:
    """Fake machine + network modules; press(k) holds a key down on the matrix."""

    def __init__(self, i2c_present=()):
        self.pressed = None
        self.pins = {}
        self.feeds = 0
        self.i2c_present = list(i2c_present)
        hw = self

        class Pin:
            IN, OUT, OPEN_DRAIN, PULL_UP = 1, 2, 7, 3

            def __init__(self, n, mode=None, pull=None, value=None):
                self.n, self.mode, self.v = n, mode, value
                hw.pins[n] = self

            def value(self, v=None):
                if v is not None:
                    self.v = v
                    return None
                if self.n in COLS and hw.pressed:
                    i = KEYS.index(hw.pressed)
                    if self.n == COLS[i % 4] and hw.pins[ROWS[i // 4]].v == 0:
                        return 0
                    return 1
                return 1 if self.v is None else self.v

        class PWM:
            def __init__(self, pin, freq=None, duty_u16=None):
                self.pin, self.ns = pin.n, None

            def freq(self, f=None):
                pass

            def duty_u16(self, d=None):
                pass

            def duty_ns(self, ns=None):
                self.ns = ns

        class I2C:
            def __init__(self, *a, **k):
                pass

            def scan(self):
                return list(hw.i2c_present)

            def writeto(self, addr, buf):
                if addr not in hw.i2c_present:
                    raise OSError(19, "ENODEV")

        class WDT:
            def __init__(self, timeout):
                hw.wdt_timeout = timeout

            def feed(self):
                hw.feeds += 1

        self.machine = types.SimpleNamespace(
            Pin=Pin, PWM=PWM, I2C=I2C, WDT=WDT, reset_cause=lambda: 3, WDT_RESET=3, PWRON_RESET=1
        )

        class WLAN:
            def __init__(self, iface):
                pass

            def active(self, on=None):
                return True

            def isconnected(self):
                return True

            def status(self, what=None):
                return -58 if what == "rssi" else 1010

            def ifconfig(self):
                return ("192.168.1.50", "255.255.255.0", "192.168.1.1", "1.1.1.1")

            def connect(self, ssid, pw):
                pass

            def disconnect(self):
                pass

        self.network = types.SimpleNamespace(WLAN=WLAN, STA_IF=0, STAT_CONNECTING=1001)


class Backend:
    """FakeServer behind a real HTTP server on loopback. hold_replies() keeps every request
    waiting, after its body is read, until release_replies(): a call stays in flight for as
    long as a test needs, however slow the machine (no reply delay to outlast)."""

    def __init__(self):
        self.fake = FakeServer()
        self.fake.now = int(time.time())
        self._replies = threading.Event()
        self._replies.set()
        self.waiting = 0  # requests held back right now
        self.finished = []  # paths of the requests handled (reply written or connection gone)
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                try:
                    self._answer()
                finally:
                    backend.finished.append(self.path)

            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                backend.waiting += 1
                backend._replies.wait(60)
                backend.waiting -= 1
                try:
                    status, headers, reply = backend.fake("POST", self.path, dict(self.headers.items()), body)
                except OSError:
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

            def handle_one_request(self):
                # a cancelled call's connection is gone when its held reply is written: expected
                with contextlib.suppress(ConnectionError):
                    super().handle_one_request()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold_replies(self):
        self._replies.clear()

    def release_replies(self):
        self._replies.set()

    def close(self):
        self.release_replies()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def config(backend, **extra):
    values = dict(
        WIFI_SSID="lab",
        WIFI_PASSWORD="pw",
        BACKEND_URL="http://192.168.1.10:8001",  # replaced below: the check refuses loopback
        DOOR_ID=DOOR,
        DOOR_SECRET=KEY.hex(),
        NTP_HOST=None,
        WATCHDOG_MS=5000,
    )
    values.update(extra)
    cfg, errors = settings.check(types.SimpleNamespace(**values))
    assert errors == []
    cfg["BACKEND_URL"] = backend.url
    return cfg


def ms():
    return int(time.monotonic() * 1000)


async def until(cond, timeout=30.0, why=None):  # generous: only a failure waits it out
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting: " + (why() if why else "")
        await asyncio.sleep(0.01)


async def hold(hw, door, key):
    """Holds a key down until the door's keypad has taken it (debounced and handed to the state
    machine in the same step of the ui task), then releases it until the keypad has seen the
    release: conditions, not a hold of so many seconds, so a loaded machine only makes it slower."""
    hw.pressed = key
    await until(lambda: door.keypad.held == key, why=lambda: "key %s not taken" % key)
    hw.pressed = None
    await until(lambda: door.keypad.held is None, why=lambda: "key %s not released" % key)


def make_door(hw, backend, tmp_path, **extra):
    display = SafeDisplay(hw.machine.I2C(0), log=lambda *a: None)
    door = board.Door(
        hw.machine, hw.network, config(backend, **extra), display, now_ms=ms, store_path=str(tmp_path / "door.json")
    )
    door.clock.set_epoch(backend.fake.now, "ntp")
    return door


async def test_keys_timers_and_watchdog_run_during_a_slow_call_and_c_cancels(backend, tmp_path):
    hw = Hardware(i2c_present=[0x3F])
    door = make_door(hw, backend, tmp_path)
    assert door.display.addr == 0x3F  # probed: 0x27 absent, 0x3F answers
    assert all(hw.pins[n].mode == hw.machine.Pin.OPEN_DRAIN for n in ROWS)  # rows never drive high
    task = asyncio.create_task(door.run(hw.machine.WDT(5000)))
    try:
        await until(lambda: any(b and b.get("event") == "boot" for _m, _p, b in backend.fake.requests))
        boot = next(b for _m, _p, b in backend.fake.requests if b.get("event") == "boot")
        assert boot["reset_cause"] == "watchdog" and boot["state"] == "locked" and boot["firmware"] == board.FIRMWARE
        assert boot.get("heap", 1) > 0  # gc.mem_free(): MicroPython only
        backend.hold_replies()  # the code request stays in flight until released below
        await hold(hw, door, "*")
        await hold(hw, door, "#")  # no number: the shared codes
        await until(
            lambda: door.machine.state == "sending" and backend.waiting == 1,
            why=lambda: repr((door.display.lines, door.machine.last_result, backend.fake.requests[-2:])),
        )
        feeds = hw.feeds
        await until(lambda: hw.feeds > feeds + 10, why=lambda: "feeds: %d" % (hw.feeds - feeds))
        assert door.machine.state == "sending" and backend.waiting == 1  # fed while the call is under way
        await hold(hw, door, "C")
        assert door.machine.state == "ready" and door.display.lines == screens.ready()
        backend.release_replies()  # the cancelled call's reply, if any, changes nothing
        await until(lambda: "/api/v1/otp/request" in backend.finished, why=lambda: repr(backend.finished))
        feeds = hw.feeds
        await until(lambda: hw.feeds > feeds + 5)  # the door's loop has run on since
        assert door.machine.state == "ready"
        await hold(hw, door, "*")
        await hold(hw, door, "#")  # no number: the shared codes
        await until(lambda: door.machine.state == "sent")
        for k in "123456":
            await hold(hw, door, k)
        await until(lambda: door.machine.door == "unlocked")
        assert door.servo.powered
        await until(lambda: not door.servo.powered)  # pulses off after the move
        assert hw.pins  # the servo's PWM saw 500 us then 0
    finally:
        task.cancel()


async def test_a_hung_call_stops_the_watchdog(backend, tmp_path, monkeypatch):
    hw = Hardware()
    door = make_door(hw, backend, tmp_path)
    monkeypatch.setattr(board, "HANG_GRACE_MS", 100)
    door.machine.deadline_ms = 200

    async def hang(job):
        await asyncio.sleep(3600)

    door._exchange = hang
    task = asyncio.create_task(door.run(hw.machine.WDT(5000)))
    try:
        await until(lambda: door.machine.running is not None)  # the boot report hangs
        await asyncio.sleep(0.3)
        before = hw.feeds
        await asyncio.sleep(3.0)  # > WATCHDOG_MS / 2 after the grace: no more feeding
        stopped = hw.feeds
        await asyncio.sleep(0.5)
        assert hw.feeds == stopped and stopped >= before  # the board would reset now
    finally:
        task.cancel()


async def test_missing_lcd_never_stops_the_door(backend, tmp_path):
    hw = Hardware(i2c_present=[])
    door = make_door(hw, backend, tmp_path)
    assert not door.display.ok
    task = asyncio.create_task(door.run(None))
    try:
        await until(lambda: door.machine.state == "ready")
        await hold(hw, door, "*")
        await hold(hw, door, "#")  # no number: the shared codes
        await until(lambda: door.machine.state == "sent")
    finally:
        task.cancel()


async def test_config_errors_are_shown_in_full_and_the_watchdog_fed():
    shown, logged = [], []

    class Display:
        def show(self, a, b=""):
            shown.append((a, b))

    hw = Hardware()
    cfg, errors = settings.check(types.SimpleNamespace(DOOR_SECRET="0" * 64, WIFI_SSID="your-wifi"))
    wdt = hw.machine.WDT(5000)
    await startup.show_config_errors(Display(), errors, wdt, log=lambda *a: logged.append(a), rounds=1, step_ms=1)
    assert ("config:", "WIFI_PASSWORD is missing") in logged
    secret = next(e for e in errors if e.startswith("DOOR_SECRET"))
    assert len(secret) > 16 and ("config:", secret) in logged  # printed in full
    line1 = "".join(b[0] for a, b in shown if a == "Config error")
    assert secret in line1  # scrolled through, character by character
    assert hw.feeds > 0


def test_main_disables_ctrl_c_unless_debug(monkeypatch):
    calls = []
    fake_micropython = types.SimpleNamespace(kbd_intr=lambda c: calls.append(c))
    monkeypatch.setitem(__import__("sys").modules, "micropython", fake_micropython)
    monkeypatch.setattr(startup, "show_config_errors", lambda *a, **k: asyncio.sleep(0))
    monkeypatch.setattr(startup, "BOOT_WINDOW_MS", 0)
    hw = Hardware()
    board.main(hw.machine, hw.network, None)  # no config.py: errors shown, then returns here
    assert calls == [-1] and hw.wdt_timeout == 30000
    calls.clear()
    board.main(hw.machine, hw.network, types.SimpleNamespace(DEBUG=True))
    assert calls == []


def test_reset_cause_names():
    assert settings.reset_cause(types.SimpleNamespace(reset_cause=lambda: 3, WDT_RESET=3)) == "watchdog"
    assert settings.reset_cause(types.SimpleNamespace()) is None
    assert EPOCH  # the fakes' epoch is a real one


async def test_a_reply_lost_on_the_wire_is_recovered_by_the_identical_resend(backend, tmp_path):
    # the loopback server handles the code request, then drops the connection without a
    # reply: the door sends the very same bytes again and gets the original outcome
    hw = Hardware()
    door = make_door(hw, backend, tmp_path)
    backend.fake.lose["/api/v1/otp/request"] = 1
    task = asyncio.create_task(door.run(None))
    try:
        await until(lambda: door.machine.state == "ready" and door.machine.running is None)
        await hold(hw, door, "*")
        await hold(hw, door, "#")  # no number: the shared codes
        await until(lambda: door.machine.state == "sent", why=lambda: repr(door.display.lines))
        sent = [p for _m, p, _b in backend.fake.requests if p == "/api/v1/otp/request"]
        assert len(sent) == 2 and backend.fake.n == 1  # two sends, one code request handled
        assert backend.fake.rejected == []
    finally:
        task.cancel()


async def test_exit_button_reed_switch_and_status_led(backend, tmp_path):
    hw = Hardware()
    door = make_door(hw, backend, tmp_path, EXIT_BUTTON_PIN=4, DOOR_SENSOR_PIN=5, STATUS_LED_PIN=2)
    hw.pins[5].v = 0  # reed: closed (DOOR_OPEN_LEVEL 1 = open)
    hw.pins[4].v = 1  # exit button released (to GND when pressed)
    task = asyncio.create_task(door.run(None))

    def events():
        return [(b.get("event"), b.get("door_open")) for _m, _p, b in backend.fake.requests if b]

    try:
        await until(lambda: ("boot", True) in events() or ("boot", False) in events())
        hw.pins[4].v = 0  # someone inside presses the exit button
        await until(lambda: door.machine.door == "unlocked")
        hw.pins[4].v = 1
        await until(lambda: hw.pins[2].v == 1)  # the status LED shows unlocked
        await until(lambda: any(e == "exit_button" for e, _o in events()))
        hw.pins[5].v = 1  # the door opens
        await until(lambda: ("change", True) in events(), why=lambda: repr(events()))
    finally:
        task.cancel()


def test_ntp_time_goes_to_the_rtc(backend, tmp_path):
    hw = Hardware()
    set_to = []
    hw.machine.RTC = lambda: types.SimpleNamespace(datetime=lambda t: set_to.append(t))
    door = make_door(hw, backend, tmp_path)
    door.set_rtc(1760000000)  # 2025-10-09 08:53:20 UTC, a Thursday
    assert set_to == [(2025, 10, 9, 3, 8, 53, 20, 0)]
