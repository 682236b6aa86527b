# Station-mode Wi-Fi helpers over a network.WLAN-like object passed in by main.py.
try:
    from time import sleep_ms as _sleep_ms
    from time import ticks_diff
    from time import ticks_ms as _ticks_ms
except ImportError:  # CPython: the caller injects time
    _ticks_ms = None
    _sleep_ms = None

    def ticks_diff(a, b):
        return a - b


def connect(wlan, ssid, password, timeout_ms=15000, now_ms=None, sleep_ms=None, poll_ms=100):
    """Connect and wait up to timeout_ms. True when connected; False on timeout (the
    attempt is then abandoned so the radio does not keep retrying in the background)."""
    now_ms = now_ms or _ticks_ms
    sleep_ms = sleep_ms or _sleep_ms
    wlan.active(True)
    if wlan.isconnected():
        return True
    wlan.connect(ssid, password)
    start = now_ms()
    while not wlan.isconnected():
        if ticks_diff(now_ms(), start) >= timeout_ms:
            try:
                wlan.disconnect()
            except Exception:
                pass
            return False
        sleep_ms(poll_ms)
    return True


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
