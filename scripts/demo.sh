#!/usr/bin/env bash
# The main job: installs Smart Door and runs the whole demo on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/smartdoor demo "$@"
