// Runs firmware tests on real MicroPython (the official WebAssembly port, from npm).
//
//   node tests/firmware/micropython_runner.mjs [--path DIR]... MODULE...
//   node tests/firmware/micropython_runner.mjs [--path DIR]... --exec FILE.py
//   node tests/firmware/micropython_runner.mjs [--path DIR]... --steps FILE.py
//
// --steps runs FILE.py, then calls its step() again and again (each call a separate
// top-level run) until it returns a false value, with gc.collect() at top level before
// each call. The WebAssembly port can only reclaim memory at top level (it cannot scan
// the wasm stack): a gc.collect() inside running Python code frees nothing there, so heap
// figures are taken at the start of a step.
//
// --raw-wasm skips the ESP32 import emulation described below.
// --lib DIR replaces firmware/lib (e.g. a tree of mpy-cross output). firmware/lib is copied to /lib and tests/firmware (plus each --path DIR) to /tests, both
// on sys.path. For every MODULE, each top-level callable named test_* is run in name
// order; one "PASS mod.test" / "FAIL mod.test" line each, then a summary. Exit 1 on any
// failure (including a module that does not import). --exec runs a script as __main__.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const pkg = path.join(root, "node_modules", "@micropython", "micropython-webassembly-pyscript",
  "micropython.mjs");

// frozen into the pyscript wasm build but not into the ESP32 GENERIC firmware
const NOT_ON_ESP32 = ["hmac", "base64", "logging", "datetime", "functools", "copy",
  "inspect", "pathlib", "types", "abc", "string", "unittest", "typing", "dataclasses"];

function copyTree(mp, src, dst) {
  mp.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const s = path.join(src, entry.name);
    const d = dst + "/" + entry.name;
    if (entry.isDirectory()) copyTree(mp, s, d);
    else if (entry.name.endsWith(".py") || entry.name.endsWith(".mpy")) mp.FS.writeFile(d, fs.readFileSync(s));
  }
}

const args = process.argv.slice(2);
const extra = [];
const modules = [];
let execFile = null;
let steps = false;
let esp32 = true;
let lib = path.join(root, "firmware", "lib");
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--path") extra.push(args[++i]);
  else if (args[i] === "--exec") execFile = args[++i];
  else if (args[i] === "--steps") { execFile = args[++i]; steps = true; }
  else if (args[i] === "--raw-wasm") esp32 = false;
  else if (args[i] === "--lib") lib = path.resolve(args[++i]);
  else modules.push(args[i]);
}
if (!execFile && modules.length === 0) {
  console.error("usage: micropython_runner.mjs [--path DIR]... (MODULE... | --exec FILE.py)");
  process.exit(2);
}

const { loadMicroPython } = await import(pkg);
// 256 KiB heap: between an ESP32 without PSRAM (~110 KiB free) and the wasm default (1 MiB)
const mp = await loadMicroPython({
  heapsize: 256 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
copyTree(mp, lib, "/lib");
copyTree(mp, here, "/tests");
for (const dir of extra) copyTree(mp, path.resolve(dir), "/tests");

try {
  mp.runPython("import sys\nif '/lib' not in sys.path: sys.path.append('/lib')\nsys.path.append('/tests')");
  if (esp32) {
    // The pyscript build freezes micropython-lib modules the ESP32 firmware lacks, and its
    // frozen binascii.py shadows the C binascii (and rejects str). Make imports behave as
    // on an ESP32: C binascii, and ImportError for the frozen-only modules below.
    mp.FS.mkdirTree("/esp32");
    for (const name of NOT_ON_ESP32) {
      mp.FS.writeFile("/esp32/" + name + ".py",
        "raise ImportError('no module named \\'" + name + "\\' on the ESP32 firmware')\n");
    }
    // the built-in is still reachable by its u-name; preloaded so heap figures omit the shim
    mp.FS.writeFile("/esp32/binascii.py", "from ubinascii import *\n");
    mp.runPython("import sys\nsys.path.insert(0, '/esp32')\nimport binascii");
  }
  if (execFile) {
    mp.runPython(fs.readFileSync(execFile, "utf8"));
    if (steps) {
      for (;;) {
        mp.runPython("import gc\ngc.collect()");
        mp.runPython("_more = step()");
        if (!mp.globals.get("_more")) break;
      }
    }
    process.exit(0);
  }
  mp.runPython(`
import sys
_passed = 0
_failed = 0
for _name in ${JSON.stringify(modules)}:
    try:
        _mod = __import__(_name)
    except Exception as _e:
        sys.print_exception(_e)
        print("FAIL " + _name + " (import)")
        _failed += 1
        continue
    _tests = sorted(n for n in dir(_mod) if n.startswith("test_") and callable(getattr(_mod, n)))
    if not _tests:
        print("FAIL " + _name + " (no tests)")
        _failed += 1
    for _t in _tests:
        try:
            getattr(_mod, _t)()
            print("PASS " + _name + "." + _t)
            _passed += 1
        except Exception as _e:
            sys.print_exception(_e)
            print("FAIL " + _name + "." + _t)
            _failed += 1
print(sys.version.split(";")[-1].strip() + ": " + str(_passed) + " passed, " + str(_failed) + " failed")
_ok = _failed == 0
`);
  process.exit(mp.globals.get("_ok") ? 0 : 1);
} catch (e) {
  if (e.name === "PythonError") {
    process.stdout.write(e.message);
    console.log("FAIL (uncaught " + e.type + ")");
    process.exit(1);
  }
  throw e;
}
