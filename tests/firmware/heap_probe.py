# Run by micropython_runner.mjs --steps: imports firmware modules and prints the heap they
# keep, measured at the start of each step (after a top-level gc.collect(), the only one
# that reclaims memory in the WebAssembly port). Measured in the wasm port (32-bit objects,
# like the ESP32), so it approximates, not equals, the figure on the board. Set before this
# file runs (exec), both optional:
#   ORDER  module names, dependencies first (test_on_micropython.py works it out from the
#          sources), so each MODULE figure is that module's own; default: sorted
#   MODE   "all" (default) or "door" (heap_runtime_probe.py)
# Printed:
#   MODULE <name> <bytes>    growth at its import (its own, when ORDER puts dependencies first)
#   HEAP_BYTES <bytes>       MODE "all": asyncio and every module of the tree
#   MODE "door", the door's life, in order:
#   BOOT_BYTES <bytes>       board.py and its imports, and startup.py with doorlogic.settings
#                            checking a full config.py and naming the reset cause, as
#                            board.main does
#   RUNTIME_BYTES <bytes>    the running door, startup and settings unloaded again; asyncio
#                            included (frozen in the firmware, but its objects are on the heap)
#   LAZY <name> <bytes>      a module loaded only for one call (doorlogic.lazy_call), on
#                            top of the running door, and unloaded after
#   PEAK_BYTES <bytes>       the most of all those moments
#   SETTLED_BYTES <bytes>    the running door after every lazy module was used once (the
#                            names they interned stay)
#   NOT_MEASURED <name>      a module of the tree none of the above loads
#   qstr pool: ...           micropython.qstr_info() at the start (this probe's own names)
#                            and at the end: interned names are a large part of the heap,
#                            and they stay (a module unloaded leaves its names behind)
# Few names of its own on purpose: each one it interns shifts the door's figures.
import gc
import os
import sys

import door_boot  # the boot, shared with bench/firmware_life.py
import micropython


def _modules():
    names = []
    for name in sorted(os.listdir("/lib")):
        stem, _, ext = name.rpartition(".")
        if ext in ("py", "mpy"):
            names.append(stem)
        elif "__init__.py" in os.listdir("/lib/" + name) or "__init__.mpy" in os.listdir("/lib/" + name):
            names.append(name)
            for f in sorted(os.listdir("/lib/" + name)):
                stem, _, ext = f.rpartition(".")
                if ext in ("py", "mpy") and stem != "__init__":
                    names.append(name + "." + stem)
    return names


_names = _modules()
if "ORDER" in globals():
    _names = [n for n in ORDER if n in _names] + [n for n in _names if n not in ORDER]  # noqa: F821
_names.insert(0, "asyncio")  # frozen in the ESP32 firmware, but its objects are on the heap


# the door's life, one action per step; the heap is read at the start of the next one
_DOOR = [
    ("import", "asyncio"),
    ("import", "board"),
    ("import", "startup"),  # with drivers.lcd, which stays: the door shows on that display
    ("boot", None),
    ("unload", "doorlogic.settings"),
    ("unload", "startup"),
    ("running", None),
    ("lazy", "doorlogic.totp"),  # checking a typed offline code, installing codes
    ("unload", None),  # what the lazy module loaded
    ("end", None),
]
# never loaded by the door on the ESP32 (hashlib.sha1 is there; the backend's half)
_done = ["doorlogic.sha1", "doorlogic.httpsig_server"]
_s = {"i": -1, "before": 0, "prev": 0, "peak": 0, "lazy": []}


def _all(s, now):
    if s["i"] >= 0:
        print("MODULE " + _names[s["i"]] + " " + str(now - s["prev"]))
    s["prev"] = now
    s["i"] += 1
    if s["i"] < len(_names):
        __import__(_names[s["i"]])
        return True
    print("HEAP_BYTES " + str(now - s["before"]))
    micropython.qstr_info()
    return False


def _door(s, now):
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
    s["prev"] = now
    s["i"] += 1
    what, name = _DOOR[s["i"]]
    if what == "import":
        __import__(name)
    elif what == "boot":
        door_boot.boot()
    elif what == "unload":
        for n in [name] if name else s["lazy"]:
            door_boot.unload(n)
            _done.append(n)
    elif what == "lazy":
        s["lazy"] = list(sys.modules)
        __import__(name)
        s["lazy"] = [n for n in sys.modules if n not in s["lazy"]]
    elif what == "end":
        print("PEAK_BYTES " + str(s["peak"]))
        print("SETTLED_BYTES " + str(used))
        for n in _names:
            if n not in sys.modules and n not in _done:
                print("NOT_MEASURED " + n)
        micropython.qstr_info()
        return False
    return True


def step():
    now = gc.mem_alloc()
    if _s["i"] < 0:
        _s["before"] = _s["prev"] = now
        micropython.qstr_info()  # the names this probe and the runner interned themselves
    return (_door if globals().get("MODE") == "door" else _all)(_s, now)
