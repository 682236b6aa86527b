# The door's behaviour, shared with the backend and the simulator (pure logic: no I/O of its
# own). On the board RAM is the scarce thing: code used rarely is loaded for the one call
# that needs it and unloaded after (lazy_call), so its RAM goes back to the heap.
import sys

try:  # the firmware's modules take const from here: one CPython fallback for all of them
    from micropython import const
except ImportError:  # CPython: the backend, the simulator, the tests

    def const(x):
        return x


def forget(name):
    """Unload a module (the package's attribute holds it too): its RAM is reclaimed at the
    next collection once nothing else refers to it. The names it interned stay."""
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    try:
        delattr(sys.modules[pkg], attr)
    except (KeyError, AttributeError):
        pass


def lazy_call(module, function, *args):
    """doorlogic.<module>.<function>(*args), with the doorlogic modules loaded for it
    unloaded again afterwards."""
    loaded = list(sys.modules)
    try:
        return getattr(__import__("doorlogic." + module, None, None, (function,)), function)(*args)
    finally:
        for name in list(sys.modules):
            if name.startswith("doorlogic.") and name not in loaded:
                forget(name)
