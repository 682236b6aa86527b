# Millisecond tick arithmetic with MicroPython's wrap-around, on every port. On the board
# these are time.ticks_add / ticks_diff (ticks wrap at 2**30 ms, about 12.4 days); on
# CPython the same arithmetic is written out, so a fake clock in the tests wraps exactly as
# the ESP32's does. Every timer in the firmware goes through add() / diff(): a plain
# subtraction or comparison of ticks stops firing after the wrap.
try:
    from time import ticks_add as add
    from time import ticks_diff as diff
except ImportError:  # CPython: 2**30 = 0x40000000, half of it 0x20000000

    def add(ticks, delta):
        return (ticks + delta) % 0x40000000

    def diff(end, start):
        return ((end - start + 0x20000000) % 0x40000000) - 0x20000000


class Uptime:
    """Seconds since start, from ticks read at least once per wrap period. Kept as whole
    seconds plus a millisecond remainder, so it stays a small int (no allocation) for
    decades instead of growing past 2**30 ms after 12.4 days."""

    def __init__(self, now_ms):
        self.seconds = 0
        self._ms = 0
        self._last = now_ms

    def update(self, now_ms):
        self._ms += diff(now_ms, self._last)
        self._last = now_ms
        if self._ms >= 1000:
            self.seconds += self._ms // 1000
            self._ms %= 1000
        return self.seconds


class Timer:
    """A one-shot deadline on ticks: start(now, ms), due(now) once it has passed."""

    def __init__(self):
        self.at = None

    def start(self, now_ms, ms):
        self.at = add(now_ms, ms)

    def stop(self):
        self.at = None

    def due(self, now_ms):
        return self.at is not None and diff(now_ms, self.at) >= 0

    def left(self, now_ms):
        return 0 if self.at is None else max(0, diff(self.at, now_ms))
