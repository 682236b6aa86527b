# Wall-clock seconds (Unix epoch) for request signatures. The board's RTC may be unset, or
# count from 2000 (older MicroPython ports), so we keep an offset learned from NTP or from
# the backend's GET /api/v1/time. Runs on CPython and MicroPython.
import time

# seconds from 1970-01-01 to 2000-01-01, for ports whose time.time() counts from 2000
EPOCH_2000 = 946684800


def port_epoch_offset():
    """What to add to time.time() to get Unix seconds on this port (0 or EPOCH_2000)."""
    try:
        return EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
    except Exception:
        return 0


class Clock:
    """now() -> int Unix seconds. time_s: callable giving local seconds (default time.time)."""

    def __init__(self, time_s=None):
        self._time = time_s or time.time
        self.offset = 0
        self.synced = False

    def now(self):
        return int(self._time()) + self.offset

    def set_epoch(self, epoch):
        """Tell the clock the true Unix time now (from the server or NTP)."""
        self.offset = int(epoch) - int(self._time())
        self.synced = True
