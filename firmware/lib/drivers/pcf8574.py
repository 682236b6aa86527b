# I2C transport for an HD44780 behind the common PCF8574 "backpack":
# P0=_RS, P1=_RW, P2=E, P3=backlight, P4..P7=D4..D7 (4-bit mode; _RW is kept low = write).
# Takes any bus with .writeto(addr, buf) (machine.I2C / SoftI2C or a fake).
from doorlogic import const

_ADDRESS = const(0x27)
_RS = const(0x01)
_RW = const(0x02)
_EN = const(0x04)
_BACKLIGHT = const(0x08)


class PCF8574:
    def __init__(self, i2c, addr=_ADDRESS, backlight=True):
        self._i2c = i2c
        self._addr = addr
        self._bl = _BACKLIGHT if backlight else 0
        # one byte = E high then E low (HD44780 latches on the falling edge). Both nibbles
        # of a byte go in one I2C transaction: the PCF8574 updates its port on every byte,
        # and at 100-400 kHz each byte lasts far longer than the 450 ns E pulse minimum.
        self._buf = bytearray(4)
        self._half = memoryview(self._buf)[:2]  # made once: slicing allocates on MicroPython
        self._one = memoryview(self._buf)[:1]

    def _nibble(self, pos, nibble, rs):
        b = ((nibble & 0x0F) << 4) | rs | self._bl
        self._buf[pos] = b | _EN
        self._buf[pos + 1] = b

    def write_init_nibble(self, nibble):
        """One 4-bit write with _RS=0, used by the HD44780 reset sequence."""
        self._nibble(0, nibble, 0)
        self._i2c.writeto(self._addr, self._half)

    def write_byte(self, byte, data):
        """A command (data=False) or a character (data=True) as two nibbles, high first."""
        rs = _RS if data else 0
        self._nibble(0, byte >> 4, rs)
        self._nibble(2, byte, rs)
        self._i2c.writeto(self._addr, self._buf)

    def backlight(self, on):
        self._bl = _BACKLIGHT if on else 0
        self._buf[0] = self._bl
        self._i2c.writeto(self._addr, self._one)
