#!/usr/bin/env bash
# The test command: installs everything the tests need, then runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
# two worker processes (pytest-xdist), tests handed out as each worker becomes free: the suite
# waits much of its time on processes, sockets and the database, so two cores run it ~1.3x
# faster; each worker has its own embedded database and temporary folders. A later `-n 0` in
# the arguments runs everything in one process.
exec .venv/bin/python -m pytest -n 2 --dist worksteal "$@"
