#!/usr/bin/env bash
# Lint, format check and type check (configured in pyproject.toml); fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
