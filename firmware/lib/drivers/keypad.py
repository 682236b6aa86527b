# The door's inputs, debounced on ticks and read from the loop:
#   Keypad  4x4 matrix scanner with debounce and release detection. Wiring (the original
#           Arduino sketch's): rows are driven low one at a time (open-drain, released
#           high), columns are inputs with pull-ups; a pressed key pulls its column low.
#           The caller configures the pins, e.g.
#             rows = [Pin(n, Pin.OPEN_DRAIN, value=1) for n in (14, 27, 26, 25)]
#             cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in (33, 32, 18, 19)]
#   Switch  an optional switch (door reed switch, inside exit button). A pin configured as
#           None never exists: nothing is polled then.
# Pins only need .value() and .value(v).
from doorlogic import const
from doorlogic.ticks import diff

_KEYS = const("123A456B789C*0#D")
_DEBOUNCE_MS = const(30)


class Keypad:
    def __init__(self, rows, cols, keys=_KEYS, debounce_ms=_DEBOUNCE_MS):
        if len(keys) != len(rows) * len(cols):
            raise ValueError("keys do not match the matrix")
        self._rows = rows
        self._cols = cols
        self._keys = tuple(keys)
        self._debounce = debounce_ms
        self._raw = None  # key read at the previous scan
        self._since = 0  # when _raw last changed
        self.held = None  # debounced key currently held down, or None
        for r in rows:
            r.value(1)

    def read_raw(self):
        """The first key found pressed right now (no debounce), or None."""
        rows = self._rows
        cols = self._cols
        ncols = len(cols)
        for i in range(len(rows)):
            row = rows[i]
            row.value(0)
            for j in range(ncols):
                if not cols[j].value():
                    row.value(1)
                    return self._keys[i * ncols + j]
            row.value(1)
        return None

    def scan(self, now_ms):
        """Call every few ms. Returns a key once, when it has been stably pressed for
        debounce_ms; None otherwise. A held key does not repeat; it must be released
        (stably) before the same key is reported again."""
        raw = self.read_raw()
        if raw != self._raw:
            self._raw = raw
            self._since = now_ms
        if raw != self.held and diff(now_ms, self._since) >= self._debounce:
            self.held = raw
            return raw  # None when the change was a release
        return None


class Switch:
    def __init__(self, pin, active_level=0, debounce_ms=50):
        self._pin = pin
        self._active = active_level
        self._debounce = debounce_ms
        self.state = self._read()
        self._raw = self.state
        self._since = None

    def _read(self):
        return self._pin.value() == self._active

    def poll(self, now_ms):
        """The new state (True: active) when it changed and held debounce_ms, else None."""
        raw = self._read()
        if raw != self._raw:
            self._raw = raw
            self._since = now_ms
        if raw != self.state and self._since is not None and diff(now_ms, self._since) >= self._debounce:
            self.state = raw
            return raw
        return None
