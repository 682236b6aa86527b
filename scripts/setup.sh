#!/usr/bin/env bash
# Installs what Smart Door needs into ./.venv (idempotent). With --test, also what the
# tests need: Debian's chromium (for Playwright, no browser download), systemd (for
# systemd-analyze), Debian's mosquitto (an MQTT broker for the Home Assistant tests) and
# MicroPython for Node (npm ci). Nothing is reinstalled while pyproject.toml / package-lock.json
# are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv

# install only when what we install from has changed since the last install
stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
fresh() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

if [ "${1:-}" = "--test" ]; then
  want="test-$(stamp pyproject.toml)"
  if ! fresh .venv/.smartdoor-installed "$want"; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
    echo "$want" > .venv/.smartdoor-installed
  fi
  # Debian packages: chromium (Playwright drives it), systemd (systemd-analyze verifies the units
  # in deploy/) and mosquitto (the Home Assistant tests start their own broker on a free loopback
  # port); one apt-get update for whatever is missing
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  [ -x /usr/sbin/mosquitto ] && [ -x /usr/bin/mosquitto_passwd ] || missing+=(mosquitto)
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  want_node="$(stamp package-lock.json)"
  if ! fresh node_modules/.smartdoor-installed "$want_node"; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want_node" > node_modules/.smartdoor-installed
  fi
else
  want="app-$(stamp pyproject.toml)"
  # an install for the tests includes the app's own dependencies
  if ! fresh .venv/.smartdoor-installed "$want" && ! fresh .venv/.smartdoor-installed "test-$(stamp pyproject.toml)"; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
    echo "$want" > .venv/.smartdoor-installed
  fi
fi
