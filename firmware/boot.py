# Runs before main.py on every reset. Kept minimal: nothing here can show on the LCD, and
# an error here would stop main.py from running at all.
import gc

try:  # no access point: the door is a Wi-Fi station only
    import network

    network.WLAN(network.AP_IF).active(False)
except Exception:
    pass

gc.collect()
