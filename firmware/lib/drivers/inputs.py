# Optional switches (door reed switch, inside exit button): debounced on ticks, read from
# the loop. A pin configured as None never exists: nothing is polled then.
from doorlogic.ticks import diff


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
