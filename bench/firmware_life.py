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

sys.path.insert(0, "tests/firmware")  # run from the repository's root, as firmware_frozen_heap.sh does
import door_boot  # (the boot and unloading, shared with the tests' heap_probe.py)

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


def boot():
    import startup  # noqa: F401

    door_boot.boot()


def running():
    door_boot.unload("doorlogic.settings")
    door_boot.unload("startup")


def lazy():
    figures["loaded"] = list(sys.modules)
    __import__("doorlogic.totp")


def settled():
    for name in list(sys.modules):
        if name not in figures["loaded"]:
            door_boot.unload(name)


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
