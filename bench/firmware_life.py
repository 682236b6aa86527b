# The door's life, for bench/firmware_frozen_heap.sh, run by MicroPython's unix port:
#   micropython firmware_life.py files LIB   the firmware as .mpy files under LIB
#   micropython firmware_life.py frozen      the firmware frozen into the binary
#   micropython firmware_life.py romfs IMG   the firmware's .mpy files in a ROMFS image
# Prints the heap after each step (gc.collect() first): asyncio, board.py and its imports,
# the boot (startup + settings checking a full config), the running door (those two
# unloaded), the lazily loaded TOTP module on top, and the interned names (qstr_info).
# Each step runs in a function of its own, so its temporaries are gone from the stack the
# (conservative) collector scans when the heap is read.
import gc
import sys

import micropython

if sys.argv[1] == "romfs":  # a ROMFS image, read into memory before the first reading:
    import vfs  # on a board it is a flash partition, not heap

    with open(sys.argv[2], "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path[:] = ["/rom", ".frozen"]
else:
    sys.path[:] = [".frozen"] if sys.argv[1] == "frozen" else [sys.argv[2], ".frozen"]
gc.collect()
base = gc.mem_alloc()
figures = {}


def unload(name):
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
        delattr(sys.modules[pkg], attr)


def boot():
    import startup  # noqa: F401

    from doorlogic import settings

    config = type("config", (), dict(settings.DEFAULTS))
    config.WIFI_SSID = "lab"
    config.WIFI_PASSWORD = "password"
    config.BACKEND_URL = "http://192.168.1.10:8000"
    config.DOOR_ID = "front-door"
    config.DOOR_SECRET = "8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
    assert not settings.check(config)[1]
    settings.reset_cause(config)


def running():
    unload("doorlogic.settings")
    unload("startup")


def lazy():
    figures["loaded"] = list(sys.modules)
    __import__("doorlogic.totp")


def settled():
    for name in list(sys.modules):
        if name not in figures["loaded"]:
            unload(name)


for name, action in (
    ("ASYNCIO", lambda: __import__("asyncio")),
    ("BOARD", lambda: __import__("board")),
    ("BOOT", boot),
    ("RUNTIME", running),
    ("LAZY_TOTP", lazy),
    ("SETTLED", settled),
):
    action()
    gc.collect()
    figures[name] = gc.mem_alloc() - base
    print(name + "_BYTES", figures[name])
print("PEAK_BYTES", max(figures["BOOT"], figures["LAZY_TOTP"]))
micropython.qstr_info()
