"""deploy/: the systemd units pass `systemd-analyze verify` (Debian package systemd, installed by
scripts/setup.sh --test) and keep the sandbox they promise; the admin wrapper is valid sh."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("smartdoor.service", "smartdoor-backup.service", "smartdoor-backup.timer")
INSTALLED_APP = "/opt/smartdoor/venv/bin/smartdoor"
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing: scripts/setup.sh --test installs it"
)


@pytest.fixture
def units(tmp_path) -> list[Path]:
    """The units as installed, with the app where this checkout's venv has it: verify checks
    that ExecStart's program exists."""
    app = Path(sys.executable).with_name("smartdoor")
    assert app.exists()
    copies = []
    for name in UNITS:
        copy = tmp_path / name
        copy.write_text((DEPLOY / name).read_text().replace(INSTALLED_APP, str(app)))
        copies.append(copy)
    return copies


@needs_systemd
def test_units_pass_systemd_analyze_verify(units):
    result = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr  # warnings count too


@needs_systemd
@pytest.mark.parametrize("name", ["smartdoor.service", "smartdoor-backup.service"])
def test_the_sandbox_stays_tight(units, name):
    # systemd's own score of what the service may do (0 = nothing, 10 = everything); 1.5 today
    [unit] = [u for u in units if u.name == name]
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=25", str(unit)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def settings_of(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)  # systemd repeats some keys
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DEPLOY / name)
    return parser


def test_the_service_runs_as_its_own_user_in_a_read_only_system():
    service = settings_of("smartdoor.service")["Service"]
    assert service["User"] == "smartdoor" and service["Group"] == "smartdoor"
    assert service["StateDirectory"] == "smartdoor" and service["StateDirectoryMode"] == "0700"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes" and service["UMask"] == "0077"
    assert service["Restart"] == "on-failure"
    assert service["KillMode"] == "mixed"  # the backend stops its database itself, in order
    assert service["EnvironmentFile"] == "/etc/smartdoor/smartdoor.env"
    assert service["ExecStart"].startswith(INSTALLED_APP + " serve")
    backup = settings_of("smartdoor-backup.service")["Service"]
    assert backup["User"] == "smartdoor" and backup["EnvironmentFile"] == service["EnvironmentFile"]
    assert "smartdoor backup" in backup["ExecStart"] and backup["Environment"] == service["Environment"]


def test_the_admin_wrapper_is_valid_sh():
    wrapper = DEPLOY / "smartdoor-admin"
    assert wrapper.stat().st_mode & 0o111
    subprocess.run(["sh", "-n", str(wrapper)], check=True)
