# Wall-clock seconds (Unix epoch) for request signatures and offline codes. The board's RTC
# may be unset, or count from 2000 (older ports), so the clock keeps an offset. Its sources,
# best first: NTP; the time in a *signed* reply (the backend's created / server_time); an RTC
# that kept a plausible time over a reset. The unsigned GET /api/v1/time never sets it: a
# forged time could make offline codes of the past or future open the door.
import time

from doorlogic import const

_EPOCH_2000 = const(946684800)  # 1970 -> 2000, for ports whose time.time() counts from 2000
_PLAUSIBLE = const(1735689600)  # 2025-01-01: an RTC showing less has never been set
_DRIFT_S = const(2)  # a signed time closer than this to ours changes nothing


def port_epoch_offset():
    """What to add to time.time() to get Unix seconds on this port (0 or _EPOCH_2000)."""
    try:
        return _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
    except Exception:
        return 0


class Clock:
    """now() -> int Unix seconds. time_s: callable giving local seconds (default time.time);
    offset: added to them (port_epoch_offset()); source: None (unknown), "rtc", "server"
    or "ntp"."""

    def __init__(self, time_s=None, offset=0):
        self._time = time_s or time.time
        self.offset = offset
        self.source = "rtc" if self.now() >= _PLAUSIBLE else None

    @property
    def synced(self):
        return self.source is not None

    def now(self):
        return int(self._time()) + self.offset

    def set_epoch(self, epoch, source="ntp"):
        self.offset = int(epoch) - int(self._time())
        self.source = source

    def learn(self, epoch):
        """A time from a verified reply: taken unless NTP set the clock."""
        if self.source != "ntp" and (self.source is None or abs(epoch - self.now()) >= _DRIFT_S):
            self.set_epoch(epoch, "server")
        elif self.source is None:
            self.source = "server"
