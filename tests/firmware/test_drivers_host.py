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


def test_const_fallback_on_cpython():
    # on CPython micropython.const does not exist; doorlogic's fallback must be in use (on
    # MicroPython the compiler folds const(): private ones leave no name behind at all)
    import doorlogic
    from drivers import servo

    assert doorlogic.const(7) == 7
    assert servo._FREQ_HZ == 50 and servo._MIN_US == 500 and servo._MAX_US == 2400
