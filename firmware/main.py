# Smart Door firmware entry point (ESP32, MicroPython). Builds the hardware objects from
# config.py, joins Wi-Fi, gets the time, shows network diagnostics, then runs the door state
# machine: poll the keypad, feed keys and ticks to doorlogic.statemachine.DoorMachine.
# All behaviour lives in lib/doorlogic (tested on CPython and MicroPython); this file only
# wires the board to it.
import binascii
import gc
import os
import sys
import time

import machine
import network

from doorlogic import screens
from doorlogic.client import DoorClient
from doorlogic.clock import Clock, port_epoch_offset
from doorlogic.statemachine import DoorMachine
from drivers import wifi
from drivers.buzzer import Buzzer
from drivers.keypad import Keypad
from drivers.lcd import LCD
from drivers.pcf8574 import PCF8574
from drivers.servo import Servo

FIRMWARE = "0.1.0"
LOOP_MS = 10
WIFI_RETRY_MS = 30000

# ARCHITECTURE.md section 6; used when config.py leaves a pin out (and to show errors
# on the LCD when config.py is missing)
DEFAULTS = {
    "KEYPAD_ROWS": (14, 27, 26, 25),
    "KEYPAD_COLS": (33, 32, 18, 19),
    "I2C_SDA": 21,
    "I2C_SCL": 22,
    "I2C_FREQ": 100000,
    "LCD_ADDR": 0x27,
    "SERVO_PIN": 23,
    "BUZZER_PIN": 13,
    "HTTP_TIMEOUT_S": 10,
    "WIFI_TIMEOUT_MS": 15000,
    "NTP_HOST": "pool.ntp.org",
}


class Settings:
    def __init__(self, module):
        self._m = module

    def get(self, name):
        if self._m is not None and hasattr(self._m, name):
            return getattr(self._m, name)
        if name in DEFAULTS:
            return DEFAULTS[name]
        raise ValueError("config.py: " + name + " missing")


def make_transport(timeout_s):
    """transport(method, url, headers, body) -> (status, lower-case headers, body bytes);
    OSError when the server cannot be reached (what DoorClient expects)."""
    try:
        import requests  # micropython-lib, MicroPython >= 1.20
    except ImportError:
        import urequests as requests

    def transport(method, url, headers, body):
        try:
            try:
                r = requests.request(method, url, data=body, headers=headers, timeout=timeout_s)
            except TypeError:  # an old urequests without timeout
                r = requests.request(method, url, data=body, headers=headers)
        except OSError:
            raise
        except Exception as e:  # e.g. a malformed reply line: treat as no server
            raise OSError("http: " + repr(e))
        try:
            status = r.status_code
            content = r.content
            lower = {}
            hdrs = getattr(r, "headers", None) or {}
            for k in hdrs:
                lower[k.lower()] = hdrs[k]
        finally:
            r.close()
        return status, lower, content

    return transport


def sync_clock(clock, client, ntp_host):
    """NTP when reachable, else the backend's GET /api/v1/time. -> 'ntp'/'server'/None."""
    if ntp_host:
        try:
            import ntptime

            ntptime.host = ntp_host
            try:
                ntptime.timeout = 2
            except Exception:
                pass
            ntptime.settime()
            clock.set_epoch(time.time() + port_epoch_offset())
            return "ntp"
        except Exception:
            pass
    if client.sync_time():
        return "server"
    return None


def halt(lcd, screen, buzzer=None):
    """Show why we cannot run; keep it on screen (reset to retry)."""
    if lcd is not None:
        lcd.show(screen[0], screen[1])
    print("smartdoor:", screen[0], "/", screen[1])
    if buzzer is not None:
        buzzer.error()
    while True:
        time.sleep_ms(1000)


def main():
    try:
        import config
    except ImportError:
        config = None
    cfg = Settings(config)

    i2c = machine.I2C(
        0, sda=machine.Pin(cfg.get("I2C_SDA")), scl=machine.Pin(cfg.get("I2C_SCL")), freq=cfg.get("I2C_FREQ")
    )
    lcd = LCD(PCF8574(i2c, cfg.get("LCD_ADDR")))
    lcd.show(*screens.booting())
    buzzer = Buzzer(machine.PWM(machine.Pin(cfg.get("BUZZER_PIN")), duty_u16=0))
    if config is None:
        halt(lcd, screens.no_config(), buzzer)

    try:
        hexkey = cfg.get("DOOR_SECRET")
        if len(hexkey) != 64:
            raise ValueError("DOOR_SECRET: 64 hex")
        secret = binascii.unhexlify(hexkey)
        ssid = cfg.get("WIFI_SSID")
        password = cfg.get("WIFI_PASSWORD")
        backend = cfg.get("BACKEND_URL")
        door_id = cfg.get("DOOR_ID")
    except Exception as e:
        halt(lcd, screens.fatal("config: " + str(e)), buzzer)

    rows = [machine.Pin(n, machine.Pin.OUT, value=1) for n in cfg.get("KEYPAD_ROWS")]
    cols = [machine.Pin(n, machine.Pin.IN, machine.Pin.PULL_UP) for n in cfg.get("KEYPAD_COLS")]
    keypad = Keypad(rows, cols)
    servo = Servo(machine.PWM(machine.Pin(cfg.get("SERVO_PIN")), freq=50, duty_u16=0))
    # the servo is not driven at boot: moving it without an authorised command could
    # unlock a locked door. It moves on the first verified action.

    wlan = network.WLAN(network.STA_IF)
    wifi_timeout = cfg.get("WIFI_TIMEOUT_MS")

    def join():
        lcd.show(*screens.wifi_connecting(ssid))
        return wifi.connect(wlan, ssid, password, wifi_timeout, time.ticks_ms, time.sleep_ms)

    if not join():
        lcd.show(*screens.wifi_down())
        buzzer.error()
        time.sleep_ms(2000)

    clock = Clock()
    client = DoorClient(backend, door_id, secret, make_transport(cfg.get("HTTP_TIMEOUT_S")), clock, os.urandom)
    if wlan.isconnected():
        lcd.show(*screens.time_sync())
        synced = sync_clock(clock, client, cfg.get("NTP_HOST"))
        print("smartdoor: time from", synced)

    uptime = [0, time.ticks_ms()]  # ms counted so far, ticks at last count (no wrap issue)

    def uptime_s():
        now = time.ticks_ms()
        uptime[0] += time.ticks_diff(now, uptime[1])
        uptime[1] = now
        return uptime[0] // 1000

    def diagnostics():
        d = wifi.info(wlan)
        d["connected"] = wlan.isconnected()
        return d

    def status_extra():
        return {"rssi": wifi.info(wlan).get("rssi"), "firmware": FIRMWARE, "uptime": uptime_s()}

    door = DoorMachine(
        lcd, buzzer, servo, client, diagnostics=diagnostics, wifi_ok=wlan.isconnected, status_extra=status_extra
    )
    del config, cfg
    gc.collect()

    # boot diagnostics: IP, RSSI, then gateway and a server check, then Ready
    d = diagnostics()
    print("smartdoor:", d)
    lcd.show(*screens.diag_net(d.get("ip"), d.get("rssi")))
    time.sleep_ms(1500)
    server = client.sync_time() if d["connected"] else False
    lcd.show(*screens.diag_server(d.get("gateway"), server))
    time.sleep_ms(1500)

    door.start(time.ticks_ms())
    last_state = door.state
    last_wifi_try = time.ticks_ms()
    while True:
        now = time.ticks_ms()
        k = keypad.scan(now)
        if k:
            door.key(k, now)
        door.tick(time.ticks_ms())
        if door.state != last_state:
            last_state = door.state
            gc.collect()
        if door.state == "ready" and not wlan.isconnected() and time.ticks_diff(now, last_wifi_try) >= WIFI_RETRY_MS:
            join()
            last_wifi_try = time.ticks_ms()
            if wlan.isconnected() and not clock.synced:
                sync_clock(clock, client, None)
            lcd.show(*door.lines)  # back to what the machine shows
        uptime_s()
        time.sleep_ms(LOOP_MS)


try:
    main()
except KeyboardInterrupt:
    raise  # Ctrl-C at the REPL: stop, for development
except Exception as e:
    sys.print_exception(e)
    time.sleep_ms(5000)
    machine.reset()
