# Driver tests with fake pins / I2C / PWM / WLAN. Plain asserts and no pytest import:
# pytest runs this file on CPython and micropython_runner.mjs runs it on MicroPython.
from doorlogic import ticks
from drivers import buzzer, keypad, lcd, servo, wifi

# --- fakes -------------------------------------------------------------------------


class Log:
    def __init__(self):
        self.events = []


class FakeI2C:
    def __init__(self, log=None):
        self.log = log or Log()
        self.writes = []  # (addr, bytes) per transaction

    def writeto(self, addr, buf):
        data = bytes(buf)
        self.writes.append((addr, data))
        self.log.events.append(("i2c", data))

    def stream(self):
        out = bytearray()
        for _, data in self.writes:
            out.extend(data)
        return bytes(out)


class Matrix:
    """A 4x4 keypad: row pins are driven by the scanner, column pins read low when a
    pressed key connects them to a row that is driven low."""

    def __init__(self):
        self.pressed = set()
        self.rows = [RowPin() for _ in range(4)]
        self.cols = [ColPin(self, c) for c in range(4)]


class RowPin:
    def __init__(self):
        self.v = None

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class ColPin:
    def __init__(self, matrix, col):
        self.m = matrix
        self.col = col

    def value(self, v=None):
        assert v is None, "columns are inputs"
        for r in range(4):
            if self.m.rows[r].v == 0 and (r, self.col) in self.m.pressed:
                return 0
        return 1  # pull-up


class FakePWM:
    def __init__(self, log=None, with_ns=True):
        self.log = log or Log()
        if with_ns:
            self.duty_ns = self._duty_ns

    def freq(self, f=None):
        self.log.events.append(("freq", f))

    def duty_u16(self, d=None):
        self.log.events.append(("u16", d))

    def _duty_ns(self, d=None):
        self.log.events.append(("ns", d))


class FakeWLAN:
    def __init__(self, clock, connect_after_ms=None):
        self.clock = clock
        self.connect_after = connect_after_ms
        self.started = None
        self.calls = []
        self.is_active = False

    def active(self, on=None):
        if on is not None:
            self.is_active = on
            self.calls.append(("active", on))
        return self.is_active

    def connect(self, ssid, password):
        self.calls.append(("connect", ssid, password))
        self.started = self.clock.t

    def disconnect(self):
        self.calls.append(("disconnect",))

    def isconnected(self):
        return (
            self.started is not None
            and self.connect_after is not None
            and self.clock.t - self.started >= self.connect_after
        )

    def ifconfig(self):
        return ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")

    def status(self, param=None):
        if param == "rssi":
            if not self.isconnected():
                raise OSError("not connected")
            return -61
        return 1010


class Clock:
    def __init__(self):
        self.t = 0

    def now(self):
        return self.t

    def sleep(self, ms):
        self.t += ms


# --- PCF8574 + HD44780 -----------------------------------------------------------------

# Hand-written from the backpack mapping P0=RS P1=RW P2=E P3=BL P4-7=D4-7, backlight on:
# every nibble is (D<<4 | BL | RS) sent with E=1 then E=0.
INIT_BYTES = bytes(
    [
        0x3C,
        0x38,
        0x3C,
        0x38,
        0x3C,
        0x38,  # 0x3 x3 (reset to 8-bit)
        0x2C,
        0x28,  # 0x2: 4-bit mode
        0x2C,
        0x28,
        0x8C,
        0x88,  # 0x28 function set: 4-bit, 2 lines, 5x8
        0x0C,
        0x08,
        0x8C,
        0x88,  # 0x08 display off
        0x0C,
        0x08,
        0x1C,
        0x18,  # 0x01 clear
        0x0C,
        0x08,
        0x6C,
        0x68,  # 0x06 entry mode
        0x0C,
        0x08,
        0xCC,
        0xC8,  # 0x0C display on, no cursor
    ]
)
SPACE = bytes([0x2D, 0x29, 0x0D, 0x09])  # " " as data (RS=1)


def make_lcd():
    log = Log()
    bus = FakeI2C(log)
    sleeps = []

    def sleep_us(us):
        sleeps.append(us)
        log.events.append(("sleep", us))

    d = lcd.LCD(lcd.PCF8574(bus), sleep_us=sleep_us)
    return d, bus, log, sleeps


def test_lcd_init_bytes():
    d, bus, log, sleeps = make_lcd()
    assert bus.stream() == INIT_BYTES, bus.stream()
    assert all(addr == 0x27 for addr, _ in bus.writes)
    assert log.events[0] == ("sleep", 50000), "must wait >40 ms after power-up first"
    assert log.events[2] == ("sleep", 4500), "must wait >4.1 ms after the first 0x3"


def test_lcd_clear_bytes_and_wait():
    d, bus, log, sleeps = make_lcd()
    bus.writes = []
    log.events = []
    d.clear()
    assert bus.stream() == bytes([0x0C, 0x08, 0x1C, 0x18])
    assert log.events[-1][0] == "sleep" and log.events[-1][1] >= 1520


def test_lcd_show_pads_both_lines():
    d, bus, log, sleeps = make_lcd()
    bus.writes = []
    d.show("Hi", "")
    expected = (
        bytes([0x8C, 0x88, 0x0C, 0x08])  # DDRAM 0x00
        + bytes([0x4D, 0x49, 0x8D, 0x89])  # "H" = 0x48
        + bytes([0x6D, 0x69, 0x9D, 0x99])  # "i" = 0x69
        + SPACE * 14
        + bytes([0xCC, 0xC8, 0x0C, 0x08])  # DDRAM 0x40 (line 2)
        + SPACE * 16
    )
    assert bus.stream() == expected


def test_lcd_show_cuts_long_lines_and_skips_unchanged():
    d, bus, log, sleeps = make_lcd()
    d.show("0123456789abcdefXYZ", "x")
    bus.writes = []
    d.show("0123456789abcdefXYZ", "y")
    # line 1 unchanged: only line 2 is rewritten
    assert bus.stream()[:4] == bytes([0xCC, 0xC8, 0x0C, 0x08])
    assert len(bus.stream()) == 4 + 16 * 4
    bus.writes = []
    d.clear()
    d.show("0123456789abcdefXYZ", "y")
    assert len(bus.stream()) == 4 + 2 * (4 + 16 * 4)  # clear, then both lines again


def test_pcf8574_backlight_bit():
    bus = FakeI2C()
    t = lcd.PCF8574(bus, addr=0x3F, backlight=False)
    t.write_byte(0x41, True)
    assert bus.writes == [(0x3F, bytes([0x45, 0x41, 0x15, 0x11]))]
    t.backlight(True)
    assert bus.writes[-1] == (0x3F, bytes([0x08]))
    t.write_byte(0x41, True)
    assert bus.writes[-1] == (0x3F, bytes([0x4D, 0x49, 0x1D, 0x19]))


# --- keypad ------------------------------------------------------------------------------


def test_keypad_layout():
    m = Matrix()
    kp = keypad.Keypad(m.rows, m.cols)
    got = ""
    for r in range(4):
        for c in range(4):
            m.pressed = {(r, c)}
            got += kp.read_raw()
    assert got == "123A456B789C*0#D"
    m.pressed = set()
    assert kp.read_raw() is None
    assert [p.v for p in m.rows] == [1, 1, 1, 1], "rows must idle high after a scan"


def test_keypad_debounce_once_and_no_repeat():
    m = Matrix()
    kp = keypad.Keypad(m.rows, m.cols, debounce_ms=30)
    assert kp.scan(0) is None
    m.pressed = {(1, 1)}  # "5"
    assert kp.scan(10) is None
    assert kp.scan(25) is None
    assert kp.scan(40) == "5"  # stable for 30 ms
    for t in range(45, 2000, 5):  # held: never repeats
        assert kp.scan(t) is None
    assert kp.held == "5"
    m.pressed = set()
    assert kp.scan(2000) is None
    assert kp.scan(2040) is None  # the release itself is not a key
    assert kp.held is None
    m.pressed = {(1, 1)}
    assert kp.scan(2050) is None
    assert kp.scan(2080) == "5"  # pressed again after a release: reported again


def test_keypad_bounce_is_filtered():
    m = Matrix()
    kp = keypad.Keypad(m.rows, m.cols, debounce_ms=30)
    seq = [(0, True), (5, False), (8, True), (12, False), (15, True)]
    for t, down in seq:
        m.pressed = {(3, 2)} if down else set()
        assert kp.scan(t) is None
    assert kp.scan(40) is None  # only 25 ms since the last bounce
    assert kp.scan(45) == "#"
    # a short glitch open while held does not produce a second "#"
    m.pressed = set()
    assert kp.scan(50) is None
    m.pressed = {(3, 2)}
    for t in range(55, 300, 5):
        assert kp.scan(t) is None


def test_keypad_rollover_reports_new_key():
    m = Matrix()
    kp = keypad.Keypad(m.rows, m.cols, debounce_ms=20)
    m.pressed = {(0, 0)}
    kp.scan(0)
    assert kp.scan(20) == "1"
    m.pressed = {(0, 1)}
    kp.scan(30)
    assert kp.scan(50) == "2"


# --- servo -------------------------------------------------------------------------------


def test_servo_duty_ns():
    log = Log()
    s = servo.Servo(FakePWM(log, with_ns=True))
    assert log.events == [("freq", 50), ("ns", 0)]  # no pulses until told to move
    assert s.angle is None
    for deg, ns in ((0, 500000), (90, 1450000), (180, 2400000)):
        s.move(deg)
        assert log.events[-1] == ("ns", ns), (deg, log.events[-1])
        assert s.angle == deg


def test_servo_duty_u16_fallback():
    log = Log()
    s = servo.Servo(FakePWM(log, with_ns=False))
    # 65535 * pulse_us / 20000 us period, rounded
    for deg, u16 in ((0, 1638), (90, 4751), (180, 7864)):
        s.move(deg)
        assert log.events[-1] == ("u16", u16), (deg, log.events[-1])


def test_servo_lock_unlock_and_clamp():
    log = Log()
    s = servo.Servo(FakePWM(log))
    s.lock()
    assert s.angle == 90 and log.events[-1] == ("ns", 1450000)
    s.unlock()
    assert s.angle == 0 and log.events[-1] == ("ns", 500000)
    s.move(250)
    assert s.angle == 180 and log.events[-1] == ("ns", 2400000)
    s.move(-5)
    assert s.angle == 0


def test_servo_pulses_stop_700ms_after_a_move_without_blocking():
    log = Log()
    s = servo.Servo(FakePWM(log))
    t = ticks.add(0, -300)  # across the ticks wrap
    s.unlock()
    assert s.powered and log.events[-1] == ("ns", 500000)
    s.tick(t)
    s.tick(ticks.add(t, 699))
    assert s.powered
    s.tick(ticks.add(t, 700))
    assert not s.powered and log.events[-1] == ("ns", 0) and s.angle == 0
    s.lock()  # a new move restarts the wait
    s.tick(ticks.add(t, 800))
    s.tick(ticks.add(t, 1400))
    assert s.powered
    s.tick(ticks.add(t, 1500))
    assert not s.powered


def test_servo_release_ms_from_config_and_zero_holds():
    log = Log()
    s = servo.Servo(FakePWM(log), lock_angle=100, unlock_angle=10, release_ms=0)
    s.lock()
    assert s.angle == 100
    for t in range(0, 100000, 1000):
        s.tick(t)
    assert s.powered


# --- buzzer ------------------------------------------------------------------------------


def make_buzzer():
    log = Log()
    b = buzzer.Buzzer(FakePWM(log))
    log.events = []
    return b, log


def play_out(b, log, start=0, step=10, limit=5000):
    """Ticks until silent; -> [(event, at_ms)]."""
    out = []
    t = start
    b.tick(t)
    while b.busy and t - start < limit:
        t += step
        n = len(log.events)
        b.tick(t)
        out += [(e, t - start) for e in log.events[n:]]
    return out


def test_buzzer_plays_without_blocking():
    b, log = make_buzzer()
    b.key()
    assert log.events == [("freq", 800), ("u16", 32768)]  # started, returned at once
    assert play_out(b, log) == [(("u16", 0), 50)]
    b.error()
    assert play_out(b, log, 1000) == [(("u16", 0), 500)]


def test_buzzer_action_triple_with_gaps():
    b, log = make_buzzer()
    b.action()
    ev = play_out(b, log)
    assert [e for e, _t in ev] == [
        ("u16", 0),
        ("freq", 1000),
        ("u16", 32768),
        ("u16", 0),
        ("freq", 1000),
        ("u16", 32768),
        ("u16", 0),
    ]
    assert [t for _e, t in ev] == [100, 200, 200, 300, 400, 400, 500]


def test_buzzer_startup_melody_and_replacement():
    b, log = make_buzzer()
    b.startup()
    play_out(b, log)
    freqs = [e[1] for e in log.events if e[0] == "freq"]
    assert freqs == [1200, 1500, 1800]
    assert log.events[-1] == ("u16", 0)
    b.error()
    b.key()  # a key press replaces what plays
    assert log.events[-1] == ("u16", 32768) and log.events[-2] == ("freq", 800)


def test_buzzer_tone_table_is_data():
    for name in ("startup", "key", "success", "error", "action"):
        seq = buzzer.TONES[name]
        assert len(seq) >= 1
        for item in seq:
            assert len(item) == 2 and item[0] >= 0 and item[1] > 0
    assert buzzer.TONES["key"] == ((800, 50),)


# --- wifi ------------------------------------------------------------------------------


class Net:
    """network module constants as on the ESP32 port."""

    STAT_IDLE = 1000
    STAT_CONNECTING = 1001
    STAT_GOT_IP = 1010
    STAT_NO_AP_FOUND = 201
    STAT_WRONG_PASSWORD = 202
    STAT_BEACON_TIMEOUT = 200
    STAT_ASSOC_FAIL = 203
    STAT_HANDSHAKE_TIMEOUT = 204


class EspWLAN:
    """Behaves like the ESP32 driver: connect() while connecting raises "Wifi Internal
    Error"; status() reports the last failure reason."""

    def __init__(self):
        self.st = Net.STAT_IDLE
        self.calls = []
        self.up = False

    def active(self, on=None):
        return True

    def connect(self, ssid, password):
        self.calls.append("connect")
        if self.st == Net.STAT_CONNECTING:
            raise OSError("Wifi Internal Error")
        self.st = Net.STAT_CONNECTING

    def disconnect(self):
        self.calls.append("disconnect")
        self.st = Net.STAT_IDLE

    def isconnected(self):
        return self.up

    def status(self, param=None):
        if param == "rssi":
            if not self.up:
                raise OSError("not connected")
            return -61
        return self.st

    def ifconfig(self):
        return ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")


def test_wifi_never_connects_while_connecting_and_names_the_fault():
    w = EspWLAN()
    log = []
    link = wifi.WifiLink(w, Net, "home", "pw", retry_ms=30000, connect_ms=20000, log=lambda *a: log.append(a))
    t = 0
    assert link.poll(t) is False and w.calls.count("connect") == 1
    for t in range(500, 19500, 500):  # connecting: left alone
        link.poll(t)
    assert w.calls.count("connect") == 1
    w.st = Net.STAT_WRONG_PASSWORD
    link.poll(20000)
    assert link.reason == "Wrong Wi-Fi pass"
    assert w.calls.count("connect") == 1  # not before retry_ms
    link.poll(30000)
    assert w.calls.count("connect") == 2 and w.calls[-2:] == ["disconnect", "connect"]
    w.st = Net.STAT_NO_AP_FOUND
    link.poll(30500)
    assert link.reason == "No access point"
    w.up = True
    assert link.poll(31000) is True and link.changed and link.reason is None
    assert wifi.info(w) == {"ip": "192.168.1.50", "gateway": "192.168.1.1", "rssi": -61}


def test_wifi_connect_errors_are_caught_and_shown():
    class Broken(EspWLAN):
        def connect(self, ssid, password):
            raise OSError("Wifi Internal Error")

    link = wifi.WifiLink(Broken(), Net, "home", "pw", log=lambda *a: None)
    assert link.poll(0) is False
    assert link.reason == "Wi-Fi Wifi Intern"[:16]


def test_wifi_stuck_connecting_is_abandoned_and_retried_across_the_wrap():
    w = EspWLAN()
    link = wifi.WifiLink(w, Net, "home", "pw", retry_ms=30000, connect_ms=20000, log=lambda *a: None)
    t = ticks.add(0, -10000)
    for i in range(200):  # 100 s in 500 ms steps, crossing the wrap
        link.poll(ticks.add(t, i * 500))
    assert w.calls.count("connect") >= 3 and "disconnect" in w.calls
    assert wifi.info(w)["rssi"] is None


# --- display: missing or failing LCD -------------------------------------------------------


class ScanI2C(FakeI2C):
    def __init__(self, present=(), fail_after=None):
        FakeI2C.__init__(self)
        self.present = list(present)
        self.fail_after = fail_after

    def scan(self):
        return list(self.present)

    def writeto(self, addr, buf):
        if addr not in self.present or (self.fail_after is not None and len(self.writes) >= self.fail_after):
            raise OSError(19, "ENODEV")
        FakeI2C.writeto(self, addr, buf)


def test_display_probes_0x27_then_0x3f():
    bus = ScanI2C(present=[0x3F])
    d = lcd.SafeDisplay(bus, log=lambda *a: None)
    assert d.ok and d.addr == 0x3F
    d.show("Hello", "there")
    assert bus.writes[-1][0] == 0x3F
    assert lcd.SafeDisplay(ScanI2C(present=[0x27, 0x3F]), log=lambda *a: None).addr == 0x27


def test_missing_lcd_logs_to_serial_and_is_retried():
    bus = ScanI2C(present=[])
    log = []
    d = lcd.SafeDisplay(bus, retry_ms=30000, log=lambda *a: log.append(a))
    assert not d.ok
    d.show("Press # or *", "#=Lock *=Unlock")  # no exception
    assert ("lcd|", "Press # or *", "|", "#=Lock *=Unlock") in log
    bus.present = [0x27]  # plugged in
    d.tick(0)
    d.tick(29999)
    assert not d.ok
    d.tick(30000)
    assert d.ok and d.lines == ("Press # or *", "#=Lock *=Unlock")


def test_i2c_error_inside_show_never_raises():
    bus = ScanI2C(present=[0x27])
    d = lcd.SafeDisplay(bus, log=lambda *a: None)
    bus.fail_after = len(bus.writes) + 3  # the cable comes loose mid-line
    d.show("Door Unlocked", "Welcome")
    assert not d.ok and d.faults == 1 and d.lines == ("Door Unlocked", "Welcome")


# --- optional switches --------------------------------------------------------------------


class InPin:
    def __init__(self, v=1):
        self.v = v

    def value(self):
        return self.v


def test_switch_debounces():
    p = InPin(1)
    sw = keypad.Switch(p, active_level=0, debounce_ms=50)
    assert sw.state is False and sw.poll(0) is None
    p.v = 0
    assert sw.poll(10) is None
    p.v = 1  # bounce
    assert sw.poll(20) is None
    p.v = 0
    assert sw.poll(30) is None and sw.poll(79) is None
    assert sw.poll(80) is True and sw.state is True
    p.v = 1
    sw.poll(100)
    assert sw.poll(150) is False
