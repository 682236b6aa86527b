# HD44780 character LCD command logic (4-bit mode), in the manner of dhylands/python_lcd.
# The transport (pcf8574.PCF8574 or a fake) provides write_init_nibble(n),
# write_byte(b, data) and backlight(on); waits go through the injected sleep_us so host
# tests never sleep.
from doorlogic import const

try:
    from time import sleep_us as _sleep_us
except ImportError:  # CPython has no LCD to wait for

    def _sleep_us(us):
        pass


_CLEAR = const(0x01)
_HOME = const(0x02)
_ENTRY_MODE = const(0x06)  # increment, no display shift
_DISPLAY_OFF = const(0x08)
_DISPLAY_ON = const(0x0C)  # display on, cursor off, blink off
_FUNCTION_4BIT_2LINE = const(0x28)
_SET_DDRAM = const(0x80)
_ROW_OFFSETS = (0x00, 0x40, 0x14, 0x54)


class LCD:
    def __init__(self, transport, cols=16, rows=2, sleep_us=None):
        self._t = transport
        self.cols = cols
        self.rows = rows
        self._sleep_us = sleep_us or _sleep_us
        self.x = 0
        self.y = 0
        self._shown = [None] * rows  # what show() last wrote per line (skip unchanged)
        self.init()

    def init(self):
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

    def command(self, cmd):
        self._t.write_byte(cmd, False)
        if cmd <= _HOME:  # clear and home take 1.52 ms, everything else 37 us
            self._sleep_us(2000)
        else:
            self._sleep_us(40)

    def clear(self):
        self.command(_CLEAR)
        self.x = 0
        self.y = 0
        self._invalidate()

    def move_to(self, x, y):
        self.x = x
        self.y = y
        self.command(_SET_DDRAM | (_ROW_OFFSETS[y] + x))

    def _putc(self, code):
        self._t.write_byte(code, True)
        self._sleep_us(40)

    def show(self, line0, line1=""):
        """Both lines, each padded/cut to the width. Lines equal to the last show() are
        not rewritten: that saves I2C time and avoids flicker."""
        self._line(0, line0)
        if self.rows > 1:
            self._line(1, line1)

    def _line(self, y, text):
        if self._shown[y] == text:
            return
        self.move_to(0, y)
        n = len(text)
        for i in range(self.cols):
            c = ord(text[i]) if i < n else 0x20
            self._putc(c if c < 0x80 else 0x3F)
        self.x = self.cols
        self._shown[y] = text

    def _invalidate(self):
        for i in range(self.rows):
            self._shown[i] = None
