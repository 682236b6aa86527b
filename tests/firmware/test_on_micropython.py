# Runs the MicroPython-safe test modules on real MicroPython (the official wasm port from
# npm, driven by micropython_runner.mjs) and measures the heap the firmware library keeps.
import ast
import pathlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.micropython

# tests/firmware modules (plain asserts, no pytest import) that must also pass on MicroPython
MICROPYTHON_MODULES = [
    "test_drivers_mp",
    "test_httpsig_mp",
    "test_settings_mp",
    "test_statemachine_mp",
    "test_totp_mp",
]

# bytes of heap, measured in the wasm port after a top-level gc.collect() (see heap_probe.py);
# set just above what the firmware needs today, so that growth shows up here
HEAP_BUDGET_ALL = 52 * 1024  # every module built for the board (.mpy), imported at once
HEAP_BUDGET_SOURCE = 61 * 1024  # the same as .py (build-firmware.sh --source), compiled on import
HEAP_BUDGET_RUNTIME = 45 * 1024  # the running door: board.py and its imports, asyncio
HEAP_BUDGET_PEAK = 49 * 1024 + 512  # the most at any moment: at boot, or with a lazily loaded module
HEAP_BUDGET_OBJECTS = 6 * 1024  # a running door's objects on top of its modules (door_probe.py)
# interned names after the door's life, the probe's own (about 50) included: MicroPython's
# pools of names double in size, and the one after 620 names takes 640 entries (4.5 KB) at once
QSTR_BUDGET = 620
HOST_ONLY = {"doorlogic/httpsig_server.mpy"}  # the backend's half: never on the board
SOAK_SETTLED = 3600  # cycles after which the heap must stay flat
SOAK_SETTLE_BYTES = 8 * 1024
SOAK_JITTER_BYTES = 512

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


def import_order():
    """Every firmware module, the ones it imports at load time first, so each module's
    MODULE figure in the heap probes is its own (imports inside functions are lazy)."""
    lib = ROOT / "firmware" / "lib"
    modules = {}
    for p in sorted(lib.rglob("*.py")):
        name = ".".join(p.relative_to(lib).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = p

    def load_time_imports(name):
        found = []
        for node in ast.parse(modules[name].read_text()).body:  # module level only
            for n in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else ():
                if isinstance(n, ast.Import):
                    found += [a.name for a in n.names]
                elif isinstance(n, ast.ImportFrom) and n.module:
                    found += [n.module] + [n.module + "." + a.name for a in n.names]
        # a package comes before its modules
        return [m for f in found for m in (f.rpartition(".")[0], f) if m in modules]

    order = []

    def visit(name):
        if name not in order:
            for dep in load_time_imports(name):
                visit(dep)
            order.append(name)

    for name in modules:
        visit(name)
    return order


def heap_figures(tmp_path, lib, probe="heap_probe.py"):
    """Runs a heap probe on the firmware tree lib (a build's lib/), modules in import order."""
    steps = tmp_path / ("order_" + probe)
    steps.write_text("ORDER = %r\nexec(open('/tests/%s').read())\n" % (import_order(), probe))
    r = run("--lib", lib, "--steps", steps)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "IMPORT-FAIL" not in r.stdout and "NOT_MEASURED" not in r.stdout, r.stdout
    figures = {k: int(v) for k, v in re.findall(r"^([A-Z_]+_BYTES) (\d+)$", r.stdout, re.M)}
    figures["modules"] = {k: int(v) for k, v in re.findall(r"^MODULE (\S+) (\d+)$", r.stdout, re.M)}
    figures["lazy"] = {k: int(v) for k, v in re.findall(r"^LAZY (\S+) (\d+)$", r.stdout, re.M)}
    figures["qstrs"] = [int(n) for n in re.findall(r"^qstr pool: n_pool=\d+, n_qstr=(\d+),", r.stdout, re.M)][-1]
    return figures


def build(tmp_path, *options):
    out = tmp_path / "build"
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-firmware.sh"), *options, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_build_script_compiles_everything_for_mpremote(tmp_path):
    out = build(tmp_path)
    lib = ROOT / "firmware" / "lib"
    sources = sorted(p.relative_to(lib).with_suffix(".mpy") for p in lib.rglob("*.py"))
    built = sorted(p.relative_to(out / "lib") for p in (out / "lib").rglob("*.mpy"))
    assert built == [p for p in sources if str(p) not in HOST_ONLY] and not list((out / "lib").rglob("*.py"))
    assert (out / "main.py").exists() and (out / "boot.py").exists()
    assert not (out / "config.py").exists()  # the door's secret is copied by hand, never built
    # tracebacks name the module; the board interns that name anyway, so no extra string
    assert b"doorlogic.client" in (out / "lib" / "doorlogic" / "client.mpy").read_bytes()


def test_build_script_can_copy_sources_instead(tmp_path):
    out = build(tmp_path, "--source")
    built = sorted(p.relative_to(out / "lib") for p in (out / "lib").rglob("*.py"))
    assert Path("doorlogic/statemachine.py") in built and not list((out / "lib").rglob("*.mpy"))
    assert not any(str(p.with_suffix(".mpy")) in HOST_ONLY for p in built)


def test_heap_of_firmware_imported_from_source(tmp_path):
    # the firmware as source (.py, compiled on the board at import), every module
    used = heap_figures(tmp_path, build(tmp_path, "--source") / "lib")["HEAP_BYTES"]
    print("every firmware module imported as .py (wasm port):", used, "bytes")
    assert 0 < used <= HEAP_BUDGET_SOURCE, "%d bytes > budget %d" % (used, HEAP_BUDGET_SOURCE)


def test_heap_of_firmware_built_with_mpy_cross(tmp_path):
    lib = build(tmp_path) / "lib"
    every = heap_figures(tmp_path, lib)
    door = heap_figures(tmp_path, lib, probe="heap_runtime_probe.py")
    print("every firmware module as .mpy (wasm port):", every["HEAP_BYTES"], "bytes; each:", every["modules"])
    print("the door's life:", {k: v for k, v in door.items() if k.endswith("_BYTES")}, "lazy:", door["lazy"])
    print("interned names after the door's life:", door["qstrs"])
    assert 0 < every["HEAP_BYTES"] <= HEAP_BUDGET_ALL, every["HEAP_BYTES"]
    assert 0 < door["RUNTIME_BYTES"] <= HEAP_BUDGET_RUNTIME, door["RUNTIME_BYTES"]
    assert door["RUNTIME_BYTES"] <= door["SETTLED_BYTES"] <= door["PEAK_BYTES"] <= HEAP_BUDGET_PEAK, door
    assert door["lazy"] and max(door["lazy"].values()) <= door["PEAK_BYTES"], door["lazy"]
    assert door["qstrs"] <= QSTR_BUDGET, door["qstrs"]


def test_heap_of_a_running_door_s_objects():
    # on top of its modules: the door's parts, state machine, vault, task coroutines, and
    # what 50 lock/unlock cycles through the real Exchange rules leave behind
    r = run("--steps", HERE / "door_probe.py")
    assert r.returncode == 0, r.stdout + r.stderr
    figures = {k: int(v) for k, v in re.findall(r"^([A-Z_]+_BYTES) (\d+)$", r.stdout, re.M)}
    print("a running door's objects (wasm port):", figures)
    assert 0 < figures["OBJECTS_BYTES"] <= figures["OBJECTS_CYCLES_BYTES"] <= HEAP_BUDGET_OBJECTS, figures


def test_soak_10000_request_cycles_heap_does_not_grow():
    r = run("--steps", HERE / "soak_probe.py")
    assert r.returncode == 0, r.stdout + r.stderr
    samples = [(int(c), int(b)) for c, b in re.findall(r"^SOAK_SAMPLE (\d+) (\d+)$", r.stdout, re.M)]
    assert "SOAK_CYCLES 10000" in r.stdout and samples[-1][0] == 10000
    settled = [b for c, b in samples if c >= SOAK_SETTLED]
    print("soak heap after gc.collect():", samples)
    # the first cycles fill bounded structures (interpreter caches, dict tables); after that
    # the heap stays flat. The collector is conservative (a stale word that looks like a
    # pointer keeps one block alive), so a few blocks of jitter are allowed: a leak of even
    # one 16-byte block per request would add ~100 KiB over the settled cycles.
    assert max(settled) - settled[0] <= SOAK_JITTER_BYTES, settled
    assert settled[0] - samples[0][1] <= SOAK_SETTLE_BYTES, samples
