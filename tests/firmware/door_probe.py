# Run by micropython_runner.mjs --steps: what a running door keeps on top of its modules
# (which heap_runtime_probe.py measures): a board.Door built as board.main builds it, from
# a checked config, with fake hardware (one object per GPIO, as the ESP32's machine.Pin
# has), its three task coroutines, its boot report, then code requests, verifies and state
# reports run through the firmware's own Exchange rules against the tests' signing fake
# backend. Everything is imported before the first reading, so only objects are counted.
#   OBJECTS_BYTES <bytes>         the door built and started, its boot report sent
#   OBJECTS_CYCLES_BYTES <bytes>  after CYCLES lock/unlock cycles (unlock, code, verify)
import gc
import os
import sys

from test_statemachine_mp import KEY, Counter, FakeServer

if not hasattr(os, "urandom"):  # the ESP32 has it, the WebAssembly port not
    os.urandom = Counter()

import asyncio  # noqa: F401  (imported by board: loaded before the first reading)

import board
import startup

from doorlogic import client as _c
from doorlogic import forget, settings

CYCLES = 50


class Pin:
    IN, OUT, OPEN_DRAIN, PULL_UP = 1, 3, 7, 2
    pins = {}

    def __new__(cls, n, *args, **kwargs):  # the ESP32's pins are static objects too
        if n not in Pin.pins:
            Pin.pins[n] = object.__new__(cls)
        return Pin.pins[n]

    def __init__(self, *args, **kwargs):
        pass

    def value(self, v=None):
        return 1


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        pass

    def freq(self, f=None):
        pass

    def duty_u16(self, d=None):
        pass


class I2C:
    def scan(self):
        return [0x27]

    def writeto(self, addr, buf):
        pass


class WLAN:
    def __init__(self, iface):
        pass

    def isconnected(self):
        return True

    def status(self, what=None):
        return -60 if what == "rssi" else 1010

    def ifconfig(self):
        return ("192.168.1.50", "255.255.255.0", "192.168.1.1", "1.1.1.1")


class machine:
    Pin = Pin
    PWM = PWM
    WDT_RESET = 3

    @staticmethod
    def reset_cause():
        return 3


class network:
    WLAN = WLAN
    STA_IF = 0


class config:
    WIFI_SSID = "lab"
    WIFI_PASSWORD = "password"
    BACKEND_URL = "http://192.168.1.10:8000"
    DOOR_ID = "door-1"
    DOOR_SECRET = "".join("%02x" % b for b in KEY)
    NTP_HOST = None


_cfg, _errors = settings.check(config)
assert not _errors, _errors
forget("doorlogic.settings")
_display = startup.SafeDisplay(I2C(), log=lambda *a: None)
forget("startup")
del startup
_server = FakeServer()
_s = {"step": 0, "before": 0, "door": None, "now": 1000, "tasks": None}


def _jobs(door, now):
    m = door.machine
    job = m.take_job(now)
    while job is not None:
        ex = door.client.exchange(job.kind, job.pairs, now, job.deadline_ms)
        m.finish(job, _c.run(ex, _server, lambda: now, lambda ms: None), now)
        job = m.take_job(now)


def step():
    s = _s
    used = gc.mem_alloc() - s["before"]
    if s["step"] == 0:
        s["before"] = gc.mem_alloc()
    elif s["step"] == 1:
        print("OBJECTS_BYTES " + str(used))
    else:
        print("OBJECTS_CYCLES_BYTES " + str(used))
        return False
    s["step"] += 1
    if s["step"] == 1:
        door = board.Door(machine, network, _cfg, _display, now_ms=lambda: s["now"], store_path="/door-probe.json")
        s["door"] = door
        s["tasks"] = (door.ui(), door.net(), door.wifi())  # the coroutines asyncio.gather runs
        _server.now = door.clock.now()
        door.link.poll(s["now"])  # the Wi-Fi task's first look: the link is up
        door.machine.start(s["now"])
        _jobs(door, s["now"])
        return True
    door = s["door"]
    m = door.machine
    for i in range(CYCLES):
        m.key("*", s["now"])
        m.key("#", s["now"])  # no person number: the shared codes
        _jobs(door, s["now"])
        s["now"] += 2100
        m.tick(s["now"])
        for k in "123456":
            m.key(k, s["now"])
        _jobs(door, s["now"])
        s["now"] += 3100
        m.tick(s["now"])
        assert m.state == "ready" and m.door == "unlocked", (i, m.state, m.door, m.last_result, _server.rejected)
        m.key("#", s["now"])
        m.key("#", s["now"])
        _jobs(door, s["now"])
        s["now"] += 2100
        m.tick(s["now"])
        for k in "123456":
            m.key(k, s["now"])
        _jobs(door, s["now"])
        s["now"] += 3100
        m.tick(s["now"])
        _server.requests = []
        _server.nonces = {}
        _server.timeouts = []
    assert sys.modules.get("doorlogic.totp") is None
    return True
