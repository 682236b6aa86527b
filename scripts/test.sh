#!/usr/bin/env bash
# The test command: installs everything the tests need, then runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
