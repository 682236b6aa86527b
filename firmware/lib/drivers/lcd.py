# The door's 16x2 LCD, in three layers, one module (each module costs RAM on the board):
#   PCF8574     the I2C "backpack" in front of an HD44780: P0=RS, P1=RW, P2=E, P3=backlight,
#               P4..P7=D4..D7 (4-bit mode; RW is kept low = write). Takes any bus with
#               .writeto(addr, buf) (machine.I2C / SoftI2C or a fake).
#   LCD         HD44780 command logic (4-bit mode), in the manner of dhylands/python_lcd.
#               Its transport (a PCF8574 or a fake) provides write_init_nibble(n),
#               write_byte(b, data) and backlight(on); waits go through the injected
#               sleep_us so host tests never sleep.
#   SafeDisplay the LCD as the door uses it: never a reason to stop. The backpack is found
#               by probing (0x27, then 0x3F: the two usual PCF8574 / PCF8574A addresses); a
#               missing LCD, a loose cable or an I2C error inside show() only logs to the
#               serial console, and the display is tried again every retry_ms from tick().
#               Meanwhile the door runs on keypad and tones.
from doorlogic import const
from doorlogic.ticks import Timer

try:
    from time import sleep_us as _sleep_us
except ImportError:  # CPython has no LCD to wait for

    def _sleep_us(us):
        pass


_ADDRESS = const(0x27)  # PCF8574; a PCF8574A answers at 0x3F
_RS = const(0x01)
_RW = const(0x02)
_EN = const(0x04)
_BACKLIGHT = const(0x08)


_CLEAR = const(0x01)
_HOME = const(0x02)
_ENTRY_MODE = const(0x06)  # increment, no display shift
_DISPLAY_OFF = const(0x08)
_DISPLAY_ON = const(0x0C)  # display on, cursor off, blink off
_FUNCTION_4BIT_2LINE = const(0x28)
_SET_DDRAM = const(0x80)
_ROW_OFFSETS = (0x00, 0x40)  # DDRAM address of each line's first column


class PCF8574:
    def __init__(self, i2c, addr=_ADDRESS, backlight=True):
        self._i2c = i2c
        self._addr = addr
        self._bl = _BACKLIGHT if backlight else 0
        # one byte = E high then E low (HD44780 latches on the falling edge). Both nibbles
        # of a byte go in one I2C transaction: the PCF8574 updates its port on every byte,
        # and at 100-400 kHz each byte lasts far longer than the 450 ns E pulse minimum.
        self._buf = bytearray(4)  # made once: every character written reuses it

    def _nibble(self, at, value, rs):
        b = ((value & 0x0F) << 4) | rs | self._bl
        self._buf[at] = b | _EN
        self._buf[at + 1] = b

    def write_init_nibble(self, value):
        """One 4-bit write with RS=0, used by the HD44780 reset sequence (4 times, at init:
        the slice it sends may allocate)."""
        self._nibble(0, value, 0)
        self._i2c.writeto(self._addr, memoryview(self._buf)[:2])

    def write_byte(self, value, data):
        """A command (data=False) or a character (data=True) as two nibbles, high first."""
        rs = _RS if data else 0
        self._nibble(0, value >> 4, rs)
        self._nibble(2, value, rs)
        self._i2c.writeto(self._addr, self._buf)

    def backlight(self, on):
        self._bl = _BACKLIGHT if on else 0
        self._buf[0] = self._bl
        self._i2c.writeto(self._addr, memoryview(self._buf)[:1])


class LCD:
    """A 16x2 HD44780 (rows: 1 or 2)."""

    def __init__(self, transport, rows=2, sleep_us=None):
        self._t = transport
        self.rows = rows
        self._sleep_us = sleep_us or _sleep_us
        self._shown = [None] * rows  # what show() last wrote per line (skip unchanged)
        # datasheet figure 24: 3x "8-bit" then switch to 4-bit, with the stated waits
        s = self._sleep_us
        s(50000)
        t = self._t
        t.write_init_nibble(0x03)
        s(4500)
        t.write_init_nibble(0x03)
        s(150)
        t.write_init_nibble(0x03)
        s(150)
        t.write_init_nibble(0x02)
        s(150)
        self.command(_FUNCTION_4BIT_2LINE)
        self.command(_DISPLAY_OFF)
        self.clear()
        self.command(_ENTRY_MODE)
        self.command(_DISPLAY_ON)

    def command(self, value):
        self._t.write_byte(value, False)
        if value <= _HOME:  # clear and home take 1.52 ms, everything else 37 us
            self._sleep_us(2000)
        else:
            self._sleep_us(40)

    def clear(self):
        self.command(_CLEAR)
        for i in range(self.rows):
            self._shown[i] = None

    def show(self, line0, line1=""):
        """Both lines, each padded/cut to the width. Lines equal to the last show() are
        not rewritten: that saves I2C time and avoids flicker."""
        self._line(0, line0)
        if self.rows > 1:
            self._line(1, line1)

    def _line(self, y, text):
        if self._shown[y] == text:
            return
        self.command(_SET_DDRAM | _ROW_OFFSETS[y])  # column 0 of line y
        n = len(text)
        for i in range(16):
            c = ord(text[i]) if i < n else 0x20
            self._t.write_byte(c if c < 0x80 else 0x3F, True)  # not ASCII: "?"
            self._sleep_us(40)
        self._shown[y] = text


ADDRESSES = (0x27, 0x3F)


class SafeDisplay:
    def __init__(self, i2c, addresses=ADDRESSES, retry_ms=30000, log=print):
        self._i2c = i2c
        self._addresses = addresses
        self._retry_ms = retry_ms
        self._log = log
        self._lcd = None
        self._again = Timer()
        self.lines = ("", "")
        self.addr = None
        self.faults = 0
        self._open()

    @property
    def ok(self):
        return self._lcd is not None

    def _open(self):
        try:
            found = self._i2c.scan()
        except OSError:
            found = ()
        addr = None
        for a in self._addresses:  # the first address that answers
            if a in found:
                addr = a
                break
        if addr is None:
            self._fault("no LCD at " + ",".join(hex(a) for a in self._addresses))
            return
        try:
            self._lcd = LCD(PCF8574(self._i2c, addr))
            self.addr = addr
            self._lcd.show(self.lines[0], self.lines[1])
        except OSError as e:
            self._fault(e)

    def _fault(self, why):
        self._lcd = None
        self.faults += 1
        self._log("lcd:", why)

    def show(self, line0, line1=""):
        self.lines = (line0, line1)
        if self._lcd is None:
            self._log("lcd|", line0, "|", line1)
            return
        try:
            self._lcd.show(line0, line1)
        except OSError as e:
            self._fault(e)

    def tick(self, now_ms):
        if self._lcd is not None:
            return
        if self._again.at is None:
            self._again.start(now_ms, self._retry_ms)
        elif self._again.due(now_ms):
            self._again.stop()
            self._open()
