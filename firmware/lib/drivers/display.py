# The LCD as the door uses it: never a reason to stop. The backpack is found by probing
# (0x27, then 0x3F: the two usual PCF8574 / PCF8574A addresses); a missing LCD, a loose
# cable or an I2C error inside show() only logs to the serial console, and the display is
# tried again every retry_ms from tick(). Meanwhile the door runs on keypad and tones.
from doorlogic.ticks import Timer
from drivers.lcd import LCD
from drivers.pcf8574 import PCF8574

ADDRESSES = (0x27, 0x3F)


def probe(i2c, addresses=ADDRESSES):
    """The first address that answers, or None."""
    try:
        found = i2c.scan()
    except OSError:
        return None
    for a in addresses:
        if a in found:
            return a
    return None


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
        addr = probe(self._i2c, self._addresses)
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
