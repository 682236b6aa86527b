"""`smartdoor demo` is a public toy: a `.env` in its folder or variables in its environment must
not point it at real recipients, a real database, the legacy routes or CORS. Its data is its
own (./data, or --data-dir), and a non-loopback --host says in one line who can reach it."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from smartdoor.web.demo import DEMO_RECIPIENT, demo_settings, exposure_warning
from smartdoor.web.same_origin import TOKEN_HEADER
from tests.web.test_browser import DemoProcess

pytestmark = pytest.mark.subprocess

REAL = "real.person@example.net"
DEAD_DATABASE = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500"  # nothing listens on port 9


def hostile_settings(elsewhere: Path) -> dict[str, str]:
    return {
        "MONGO_URL": DEAD_DATABASE,
        "RECIPIENTS": REAL,
        "LEGACY_API": "true",
        "LEGACY_ALLOWED_CLIENTS": "127.0.0.0/8",
        "CORS_ORIGINS": "http://evil.example",
        "DATA_DIR": str(elsewhere),
        "SECRET_KEY": "e" * 40,
        "MAIL_SERVER": "smtp.example.net",
        "MAIL_USERNAME": "someone",
    }


def write_dotenv(folder: Path, values: dict[str, str]) -> None:
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def test_demo_settings_ignore_dotenv_and_environment(tmp_path, monkeypatch):
    values = hostile_settings(tmp_path / "elsewhere")
    write_dotenv(tmp_path, values)
    monkeypatch.chdir(tmp_path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = demo_settings(2525)
    assert settings.mongo_url is None and settings.recipients == "" and settings.recipient_list == []
    assert settings.legacy_api is False and settings.cors_origin_list == []
    assert settings.data_dir == Path("./data") and settings.secret_key.get_secret_value() == ""
    assert (settings.mail_server, settings.mail_port, settings.mail_username) == ("127.0.0.1", 2525, "")
    assert demo_settings(2525, data_dir=tmp_path / "own").data_dir == tmp_path / "own"


def get(url: str, **headers) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as reply:
        return reply.code, dict(reply.headers), reply.read().decode()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as reply:
        return reply.code


def wait_for_mail(base: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inbox = get(base + "/inbox")[2]
        if "Code:" in inbox:
            return inbox
        time.sleep(0.2)
    raise AssertionError("no mail reached the demo's inbox")


def test_demo_process_uses_only_its_own_settings(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    values = hostile_settings(elsewhere)
    write_dotenv(tmp_path, values)
    demo = DemoProcess(tmp_path, extra_env=values)  # the same in its environment, too
    try:
        base = demo.wait_for_url().removesuffix("/simulator")
        status, _, body = get(base + "/health")
        health = json.loads(body)
        assert status == 200 and health["database"] == "connected", health  # not the dead MONGO_URL
        assert health["legacy_api"] is False
        assert get(base + "/send-otp")[0] == 404  # no legacy routes
        _, headers, _ = get(base + "/health", Origin="http://evil.example")
        assert "access-control-allow-origin" not in {k.lower() for k in headers}  # no CORS
        assert (tmp_path / "data" / "db").is_dir() and not elsewhere.exists()  # ./data, not DATA_DIR

        page = get(base + "/simulator")[2]
        token = re.search(r'name="demo-page-token" content="([^"]+)"', page).group(1)
        headers = {"Content-Type": "application/json", TOKEN_HEADER: token}  # as the page's script sends
        assert post(base + "/simulator/key", b'{"key": "*"}', headers) == 200
        assert post(base + "/simulator/key", b'{"key": "#"}', headers) == 200  # no number: the shared codes
        inbox = wait_for_mail(base)
        assert DEMO_RECIPIENT in inbox and REAL not in inbox  # RECIPIENTS was not read
    finally:
        demo.stop()
    assert not any("Traceback" in line for line in demo.output), "".join(demo.output)


def test_non_loopback_host_prints_one_warning_and_data_dir_is_its_own(tmp_path):
    own = tmp_path / "own-data"
    demo = DemoProcess(tmp_path, "--host", "0.0.0.0", "--data-dir", str(own), extra_env={"DATA_DIR": str(tmp_path)})
    try:
        demo.wait_for_url()
        warnings = [line for line in demo.output if "warning" in line]
        assert len(warnings) == 1 and "anyone on the network can press the keys and read the inbox" in warnings[0]
        assert (own / "db").is_dir() and not (tmp_path / "data").exists() and not (tmp_path / "db").exists()
    finally:
        demo.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_print_no_warning(host):
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "door.lan"])
def test_other_hosts_get_one_line(host):
    line = exposure_warning(host)
    assert line is not None and "\n" not in line and "anyone on the network" in line
