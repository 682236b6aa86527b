# Run by micropython_runner.mjs --steps: imports firmware modules with fake machine /
# network modules and prints the heap they keep, measured at the start of each step (after
# a top-level gc.collect(), the only one that reclaims memory in the WebAssembly port).
# Measured in the wasm port (32-bit objects, like the ESP32), so it approximates, not
# equals, the figure on the board. Set before this file runs (exec), both optional:
#   ORDER  module names, dependencies first (test_on_micropython.py works it out from the
#          sources), so each MODULE figure is that module's own; default: sorted
#   MODE   "all" (default) or "door" (heap_runtime_probe.py)
#   VERBOSE  MODE "door": the interned names after every step too
# Printed:
#   MODULE <name> <bytes>    growth at its import (own, when ORDER puts dependencies first)
#   HEAP_BYTES <bytes>       MODE "all": asyncio and every module of the tree
#   MODE "door", the door's life, in order:
#   BOOT_BYTES <bytes>       board.py and its imports, plus doorlogic.settings checking a
#                            full config.py and naming the reset cause, as board.main does
#   RUNTIME_BYTES <bytes>    the running door: settings unloaded again; asyncio included
#                            (frozen in the firmware, but its objects are on the heap)
#   LAZY <name> <bytes>      a module loaded only for one call (doorlogic.lazy_call), on
#                            top of the running door, and unloaded after
#   PEAK_BYTES <bytes>       the most of all those moments
#   SETTLED_BYTES <bytes>    the running door after every lazy module was used once (the
#                            names they interned stay)
#   NOT_MEASURED <name>      a module of the tree none of the above loads
#   qstr pool: ...           micropython.qstr_info() at the start (the probe's own names)
#                            and at the end: interned names are a large part of the heap,
#                            and they stay (a module unloaded leaves its names behind)
# The pure-Python SHA-1 is never loaded by the door on the ESP32 (hashlib.sha1 is there).
import gc
import os
import sys

import micropython


class _Fake:
    """Any attribute is a callable returning another fake: enough for import-time use."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Fake()

    def __getattr__(self, name):
        return _Fake()


def _fake_module(name):
    # MicroPython cannot instantiate module objects: a class in sys.modules imports fine
    mod = type(name, (), {})
    for attr in ("Pin", "PWM", "I2C", "SoftI2C", "WLAN", "RTC", "WDT", "Timer", "ADC", "reset", "unique_id"):
        setattr(mod, attr, _Fake)
    mod.STA_IF = 0
    mod.AP_IF = 1
    sys.modules[name] = mod


def _modules(base):
    # packages first, then top-level modules
    names = []
    top = []
    for pkg in sorted(os.listdir(base)):
        pdir = base + "/" + pkg
        if pkg.endswith(".py") or pkg.endswith(".mpy"):
            top.append(pkg.rsplit(".", 1)[0])
            continue
        try:
            files = sorted(os.listdir(pdir))
        except OSError:
            continue
        if "__init__.py" not in files and "__init__.mpy" not in files:
            continue
        names.append(pkg)
        for f in files:
            stem, _, ext = f.rpartition(".")
            if ext in ("py", "mpy") and stem != "__init__":
                names.append(pkg + "." + stem)
    return names + top


_fake_module("machine")
_fake_module("network")
_names = _modules("/lib")
if "ORDER" in globals():
    _names = [n for n in ORDER if n in _names] + [n for n in _names if n not in ORDER]  # noqa: F821
_names.insert(0, "asyncio")  # frozen in the ESP32 firmware, but its objects are on the heap


def _unload(name):
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
        delattr(sys.modules[pkg], attr)


def _boot():
    # what board.main does with config.py before the door runs: a full config (as
    # config.example.py has it) checked, the reset cause named, then settings unloaded
    from doorlogic import settings

    config = type("config", (), dict(settings.DEFAULTS))
    config.WIFI_SSID = "lab"
    config.WIFI_PASSWORD = "password"
    config.BACKEND_URL = "http://192.168.1.10:8000"
    config.DOOR_ID = "front-door"
    config.DOOR_SECRET = "8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
    cfg, errors = settings.check(config)
    assert not errors, errors
    settings.reset_cause(sys.modules["machine"])


# the door's life, one action per step; the heap is read at the start of the next one
_DOOR = [
    ("import", "asyncio"),
    ("import", "board"),
    ("boot", None),
    ("unload", "doorlogic.settings"),
    ("running", None),
    ("lazy", "doorlogic.offline_codes"),  # checking a typed offline code, installing codes
    ("unload", None),  # what the lazy module loaded
    ("end", None),
]
# never loaded by the door on the ESP32 (hashlib.sha1 is there; the backend's half)
_MEASURED = ["doorlogic.sha1", "doorlogic.httpsig_server"]
_state = {"i": -1, "before": 0, "prev": 0, "phase": globals().get("MODE", "all"), "peak": 0, "lazy": []}


def _all_step(s, now):
    if s["i"] >= 0:
        print("MODULE " + _names[s["i"]] + " " + str(now - s["prev"]))
    s["prev"] = now
    s["i"] += 1
    if s["i"] < len(_names):
        try:
            __import__(_names[s["i"]])
        except Exception as e:
            print("IMPORT-FAIL " + _names[s["i"]] + ": " + repr(e))
        return True
    print("HEAP_BYTES " + str(now - s["before"]))
    micropython.qstr_info()
    return False


def _door_step(s, now):
    used = now - s["before"]
    if s["i"] >= 0:  # report what the last action did
        what, name = _DOOR[s["i"]]
        if what == "import":
            print("MODULE " + name + " " + str(now - s["prev"]))
        elif what == "running":
            print("RUNTIME_BYTES " + str(used))
        elif what == "boot":
            print("BOOT_BYTES " + str(used))
        elif what == "lazy":
            print("LAZY " + name + " " + str(used))
        s["peak"] = max(s["peak"], used)
        if "VERBOSE" in globals():
            micropython.qstr_info()
    s["prev"] = now
    s["i"] += 1
    what, name = _DOOR[s["i"]]
    if what == "import":
        __import__(name)
    elif what == "boot":
        _boot()
    elif what == "unload":
        for n in [name] if name else s["lazy"]:
            _unload(n)
            _MEASURED.append(n)
    elif what == "running":
        pass
    elif what == "lazy":
        loaded = list(sys.modules)
        __import__(name)
        s["lazy"] = [n for n in sys.modules if n not in loaded]
    else:
        print("PEAK_BYTES " + str(s["peak"]))
        print("SETTLED_BYTES " + str(used))
        for n in _names:
            if n not in sys.modules and n not in _MEASURED:
                print("NOT_MEASURED " + n)
        micropython.qstr_info()
        return False
    return True


def step():
    s = _state
    now = gc.mem_alloc()
    if s["i"] < 0:
        s["before"] = s["prev"] = now
        micropython.qstr_info()  # the names this probe and the runner interned themselves
    if s["phase"] == "all":
        return _all_step(s, now)
    return _door_step(s, now)
