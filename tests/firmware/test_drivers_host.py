# CPython-only checks on the driver sources: the portability rules from micropython-lib
# that mpy-cross alone does not enforce.
import ast
import pathlib

import pytest

DRIVERS = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "lib" / "drivers"
SOURCES = sorted(DRIVERS.glob("*.py"))
FORBIDDEN_IMPORTS = {"machine", "network", "typing", "dataclasses", "abc", "enum"}


def imported_names(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_driver_is_portable(path):
    tree = ast.parse(path.read_text())
    bad = set(imported_names(tree)) & FORBIDDEN_IMPORTS
    assert not bad, "drivers receive hardware objects; they must not import " + str(bad)
    for node in ast.walk(tree):
        # f-string format specs and annotations are where CPython habits break MicroPython
        assert not (isinstance(node, ast.FormattedValue) and node.format_spec), path.name
        assert not isinstance(node, ast.AnnAssign), path.name
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.returns is None, path.name
            assert all(a.annotation is None for a in node.args.args), path.name


def test_all_drivers_present():
    names = {p.stem for p in SOURCES}
    # few modules on purpose: each one costs RAM on the board (its name, its path, its dict)
    assert {"keypad", "lcd", "servo", "buzzer", "wifi", "http"} <= names


def test_const_comes_from_micropython_when_there_and_the_fallback_changes_nothing(monkeypatch):
    # the firmware's modules take const from doorlogic (one CPython fallback for all of them;
    # on MicroPython the compiler folds const(), and a private one leaves no name behind)
    import importlib
    import sys
    import types

    import doorlogic
    from drivers import servo

    # on MicroPython the constants go through micropython.const (folded at compile time)
    folded = []
    fake = types.ModuleType("micropython")
    fake.const = lambda value: folded.append(value) or value
    monkeypatch.setitem(sys.modules, "micropython", fake)
    importlib.reload(doorlogic)
    importlib.reload(servo)
    assert doorlogic.const is fake.const and {50, 500, 2400} <= set(folded)
    # on CPython there is no micropython module: the fallback returns its argument unchanged
    monkeypatch.delitem(sys.modules, "micropython")
    importlib.reload(doorlogic)
    importlib.reload(servo)
    assert doorlogic.const(12345) == 12345 and doorlogic.const is not fake.const
    assert (servo._FREQ_HZ, servo._MIN_US, servo._MAX_US) == (50, 500, 2400)
