# Station-mode Wi-Fi, supervised without blocking. The ESP32 driver reconnects by itself
# after a drop, and calling wlan.connect() while it does raises "OSError: Wifi Internal
# Error": so connect() is called only when the link is neither up nor connecting, at most
# every retry_ms, and every OSError is caught and kept as a short reason for the LCD
# ("Wrong Wi-Fi pass", "No access point", ...). poll(now_ms) is called from the loop.
# ntp_query(): one SNTP query (RFC 4330) over a non-blocking UDP socket, awaiting the reply
# instead of blocking the board like ntptime.settime() does.
import asyncio

from doorlogic import const
from doorlogic.ticks import Timer

_NTP_TO_UNIX = const(2208988800)

# network.STAT_* name=what the LCD says, one per line (values differ per port, so they are
# looked up by name). One string: far less RAM than a tuple of twelve.
_REASONS = const("""STAT_WRONG_PASSWORD=Wrong Wi-Fi pass
STAT_NO_AP_FOUND=No access point
STAT_HANDSHAKE_TIMEOUT=Wi-Fi handshake
STAT_BEACON_TIMEOUT=AP signal lost
STAT_ASSOC_FAIL=AP refused us
STAT_CONNECT_FAIL=Wi-Fi failed""")


class WifiLink:
    def __init__(self, wlan, network, ssid, password, retry_ms=30000, connect_ms=20000, log=print):
        self.wlan = wlan
        self._ssid = ssid
        self._password = password
        self._retry_ms = retry_ms
        self._connect_ms = connect_ms
        self._log = log
        self._connecting = getattr(network, "STAT_CONNECTING", None)
        self._reasons = {}
        for line in _REASONS.split("\n"):
            name, _, text = line.partition("=")
            v = getattr(network, name, None)
            if v is not None:
                self._reasons[v] = text
        self._next = Timer()  # the next connect() attempt
        self._give_up = Timer()  # an attempt that takes too long is abandoned
        self.reason = None  # why we are not connected, for the LCD; None when up
        self.up = False
        self.changed = False  # up changed at the last poll

    def poll(self, now_ms):
        was = self.up
        try:
            self.up = bool(self.wlan.isconnected())
        except OSError:
            self.up = False
        self.changed = self.up != was
        if self.up:
            self.reason = None
            self._give_up.stop()
            self._next.stop()
            return True
        try:
            st = self.wlan.status()
        except OSError:
            st = None
        why = self._reasons.get(st)
        if why is not None:
            self.reason = why
        if st == self._connecting and self._connecting is not None:
            if self._give_up.due(now_ms):  # stuck: stop the driver's own retries, start over
                self._give_up.stop()
                self._disconnect()
                self.reason = self.reason or "Wi-Fi timeout"
            return False
        if self._next.at is not None and not self._next.due(now_ms):
            return False
        self._next.start(now_ms, self._retry_ms)
        try:
            self.wlan.active(True)
            self._disconnect()  # stops the driver's own reconnect loop, so connect() is safe
            self.wlan.connect(self._ssid, self._password)
            self._give_up.start(now_ms, self._connect_ms)
        except OSError as e:
            a = getattr(e, "args", ())
            self.reason = ("Wi-Fi " + str(a[-1] if a else e))[:16]
            self._log("wifi:", e)
        return False

    def _disconnect(self):
        try:
            self.wlan.disconnect()
        except OSError:
            pass


def info(wlan):
    """{"ip", "gateway", "rssi"}; None for what the port or the link state cannot give."""
    ip = gateway = rssi = None
    try:
        cfg = wlan.ifconfig()  # (ip, netmask, gateway, dns)
        ip = cfg[0]
        gateway = cfg[2]
    except Exception:
        pass
    try:
        rssi = wlan.status("rssi")  # ESP32: dBm; raises when not connected
    except Exception:
        pass
    return {"ip": ip, "gateway": gateway, "rssi": rssi}


async def ntp_query(host, timeout_ms=2000, port=123):
    """-> Unix seconds from the NTP server host, or OSError."""
    import socket

    addr = socket.getaddrinfo(host, port)[0][-1]  # a blocking lookup, once per connection
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        q = bytearray(48)
        q[0] = 0x1B  # version 3, client
        s.sendto(q, addr)
        waited = 0
        while True:
            try:
                data = s.recv(48)
                break
            except OSError:  # EAGAIN: nothing yet
                if waited >= timeout_ms:
                    raise OSError(110, "ntp timeout")
                await asyncio.sleep(0.05)
                waited += 50
        if len(data) < 48:
            raise OSError(5, "short ntp reply")
        t = int.from_bytes(data[40:44], "big") - _NTP_TO_UNIX
        if t <= 0:
            raise OSError(5, "bad ntp time")
        return t
    finally:
        s.close()
