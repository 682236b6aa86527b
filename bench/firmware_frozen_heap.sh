#!/usr/bin/env bash
# What a custom MicroPython build would save the door, measured: builds MicroPython 1.27.0's
# unix port as a 32-bit program (objects the size of the ESP32's) twice, with asyncio frozen
# (as in the ESP32 firmware) and with asyncio plus the door's modules frozen
# (FROZEN_MANIFEST), and runs bench/firmware_life.py (the door's life) with the firmware as
# .mpy files, as a ROMFS image (the unix port has VfsRom; the ESP32 port of 1.27 does not
# enable it) and frozen:
#   ./bench/firmware_frozen_heap.sh [MICROPYTHON_SRC]      (~2 min on two cores)
# Needs git, make, gcc with 32-bit support (Debian: apt-get install gcc-multilib), and the
# MicroPython source: MICROPYTHON_SRC, or a shallow clone of v1.27.0 into build/.
# The unix port is not the ESP32: its own built-in names differ, so the figures are close
# to, not equal to, the board's; the difference between the two builds is what freezing buys.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MP=${1:-build/micropython-1.27.0}
if [ ! -d "$MP/py" ]; then
  git clone --quiet --depth 1 --branch v1.27.0 https://github.com/micropython/micropython "$MP"
fi
MP=$(cd "$MP" && pwd)
OUT=$ROOT/build/frozen-heap
rm -rf "$OUT"
mkdir -p "$OUT"
./scripts/build-firmware.sh "$OUT/firmware" > /dev/null
./scripts/build-firmware.sh --source "$OUT/source" > /dev/null
cat > "$OUT/asyncio.py" <<MANIFEST
include("\$(MPY_DIR)/extmod/asyncio")
MANIFEST
cat > "$OUT/door.py" <<MANIFEST
include("\$(MPY_DIR)/extmod/asyncio")
package("doorlogic", base_path="$OUT/source/lib")
package("drivers", base_path="$OUT/source/lib")
module("board.py", base_path="$OUT/source/lib")
module("startup.py", base_path="$OUT/source/lib")
MANIFEST
# nothing here needs micropython-lib; the build only checks the submodule is there
mkdir -p "$MP/lib/micropython-lib" && touch "$MP/lib/micropython-lib/README.md"
make -s -C "$MP/mpy-cross" -j2 > "$OUT/mpy-cross.log"
for build in asyncio door; do
  make -s -C "$MP/ports/unix" -j2 VARIANT=standard BUILD="build-door-$build" MICROPY_FORCE_32BIT=1 \
    MICROPY_PY_FFI=0 MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_AXTLS=0 MICROPY_SSL_MBEDTLS=0 \
    FROZEN_MANIFEST="$OUT/$build.py" > "$OUT/unix-$build.log"
done
# the same .mpy files as a ROMFS image (mpremote's builder, from the MicroPython source)
python3 - "$MP/tools/mpremote/mpremote" "$OUT/firmware/lib" "$OUT/door.romfs" <<PY > /dev/null
import sys
sys.path.insert(0, sys.argv[1])
import romfs
open(sys.argv[3], "wb").write(romfs.make_romfs(sys.argv[2], mpy_cross=False))
PY
run() {
  "$MP/ports/unix/build-door-$1/micropython" -X heapsize=512k bench/firmware_life.py "${@:2}"
}
echo "== the firmware as .mpy files (asyncio frozen, as in the ESP32 firmware)"
run asyncio files "$OUT/firmware/lib"
echo "== the same .mpy files in a ROMFS image (bytecode and strings used in place)"
run asyncio romfs "$OUT/door.romfs"
echo "== the firmware frozen into the binary (FROZEN_MANIFEST)"
run door frozen
