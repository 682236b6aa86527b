# Run by micropython_runner.mjs --steps: imports firmware modules with fake machine /
# network modules and prints the heap they keep, measured at the start of each step (after
# a top-level gc.collect(), the only one that reclaims memory in the WebAssembly port).
# Measured in the wasm port (32-bit objects, like the ESP32), so it approximates, not
# equals, the figure on the board.
#   MODULE <name> <bytes>   growth at its import, including modules it imported first
#   HEAP_BYTES <bytes>      every module under /lib (packages first, then top-level ones)
#   RUNTIME_BYTES <bytes>   with MODE = "runtime" set before this file runs
#                           (heap_runtime_probe.py): what the running door keeps, i.e.
#                           board.py and what it imports, asyncio included (frozen in the
#                           firmware, but its objects are on the heap); config checks and
#                           the pure-Python SHA-1 (not used on the ESP32) are not in it
import gc
import os
import sys


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
    # packages first, then top-level modules (board.py imports the packages: listed after
    # them, each module's figure is its own)
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
_RUNTIME = ["asyncio", "board", "drivers.sntp"]  # sntp: imported by the Wi-Fi task
_state = {"i": -1, "before": 0, "prev": 0, "phase": globals().get("MODE", "all")}


def step():
    s = _state
    now = gc.mem_alloc()
    names = _names if s["phase"] == "all" else _RUNTIME
    if s["i"] < 0:
        s["before"] = s["prev"] = now
    else:
        print("MODULE " + names[s["i"]] + " " + str(now - s["prev"]))
        s["prev"] = now
    s["i"] += 1
    if s["i"] < len(names):
        try:
            __import__(names[s["i"]])
        except Exception as e:
            print("IMPORT-FAIL " + names[s["i"]] + ": " + repr(e))
        return True
    print(("HEAP_BYTES " if s["phase"] == "all" else "RUNTIME_BYTES ") + str(now - s["before"]))
    return False
