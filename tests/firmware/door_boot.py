# The door's boot and module unloading as the heap measurements replay them: heap_probe.py
# (MicroPython's wasm port, from the tests) and bench/firmware_life.py (its unix port, for
# bench/firmware_frozen_heap.sh). One copy, so both measure the same boot. Imported before
# either takes its first reading; few names of its own on purpose (each interned name is heap).
import sys


def unload(name):
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
        delattr(sys.modules[pkg], attr)


def boot():
    # what board.main does with config.py before the door runs: a full config (as
    # config.example.py has it) checked and the reset cause named
    from doorlogic import settings

    config = type("config", (), dict(settings.DEFAULTS))
    config.WIFI_SSID = "lab"
    config.WIFI_PASSWORD = "password"
    config.BACKEND_URL = "http://192.168.1.10:8000"
    config.DOOR_ID = "front-door"
    config.DOOR_SECRET = "8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
    assert not settings.check(config)[1]
    settings.reset_cause(config)
