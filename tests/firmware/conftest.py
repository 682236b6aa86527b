# tests/firmware runs on CPython (pytest) and, for the *_mp modules, on real MicroPython
# (test_on_micropython.py). Both need firmware/lib and this folder importable by plain name.
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_LIB = os.path.join(_HERE, "..", "..", "firmware", "lib")
for _p in (os.path.normpath(_LIB), _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)
