# Run by micropython_runner.mjs --exec: imports every firmware library module (drivers.*,
# doorlogic.*, any other package under firmware/lib) with fake machine/network modules and
# prints the heap they keep after gc.collect(). Measured in the wasm port (32-bit objects,
# like the ESP32), so it approximates, not equals, the figure on the board.
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
    for attr in (
        "Pin",
        "PWM",
        "I2C",
        "SoftI2C",
        "WLAN",
        "RTC",
        "WDT",
        "Timer",
        "ADC",
        "reset",
        "freq",
        "unique_id",
        "lightsleep",
        "deepsleep",
    ):
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
names = _modules("/lib")
marks = [0] * len(names)  # allocated before the baseline; small ints need no heap
failed = []
gc.collect()
before = gc.mem_alloc()
for i in range(len(names)):
    try:
        __import__(names[i])
    except Exception as e:
        failed.append(names[i] + ": " + repr(e))
    gc.collect()
    marks[i] = gc.mem_alloc()
after = marks[-1] if marks else before
for line in failed:
    print("IMPORT-FAIL " + line)
# per module: heap growth at its import, including modules it imported first
prev = before
for i in range(len(names)):
    print("MODULE " + names[i] + " " + str(marks[i] - prev))
    prev = marks[i]
print("HEAP_BYTES " + str(after - before))
