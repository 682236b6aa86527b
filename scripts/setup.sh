#!/usr/bin/env bash
# Installs what Smart Door needs into ./.venv (idempotent). With --test, also what the
# tests need: Debian's chromium (for Playwright, no browser download) and MicroPython for
# Node (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
  if [ ! -x /usr/bin/chromium ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  npm ci --no-audit --no-fund --loglevel=error
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
