from __future__ import annotations

import logging
import re
import socket

import pytest

from smartdoor.clock import FakeClock
from smartdoor.main import create_app
from smartdoor.settings import Settings
from smartdoor.store import embedded
from tests.conftest import TEST_SECRET_KEY, build_settings, running_app


async def test_root_and_health(harness):
    r = await harness.http.get("/")
    assert r.status_code == 200 and r.json()["status"] == "running" and r.json()["version"]
    r = await harness.http.get("/health")
    body = r.json()
    assert body["status"] == "healthy" and body["database"] == "connected"
    assert body["mail_configured"] is True and "uptime_seconds" in body and body["version"]
    assert (await harness.http.get("/openapi.json")).json()["paths"]["/api/v1/otp/verify"]


@pytest.mark.subprocess
async def test_database_down_gives_503_with_retry_after(tmp_path, smtp_sink):
    server = embedded.start_or_share(tmp_path / "own-db")
    settings = build_settings(server.uri, tmp_path, smtp_sink[0].port)
    try:
        async with running_app(settings, FakeClock(), smtp_sink[1], keep_db=True) as h:
            device = await h.add_door()
            assert (await device.request_code()).status_code == 200
            server.stop()  # the database goes away under a running backend
            r = await device.request_code(check_reply=False)
            assert r.status_code == 503 and r.json()["error"] == "db_unavailable"
            assert r.headers["retry-after"] == "5"
            assert (await h.http.get("/health")).json()["database"] == "disconnected"
    finally:
        server.stop()


def test_settings_refuse_unsafe_defaults(tmp_path):
    for key in ("", "changeme", "short-key"):
        with pytest.raises(ValueError, match="SECRET_KEY"):
            Settings(_env_file=None, secret_key=key, data_dir=tmp_path)
    with pytest.raises(ValueError, match="exclusive"):
        Settings(_env_file=None, secret_key=TEST_SECRET_KEY, mail_starttls=True, mail_ssl_tls=True)
    assert Settings(_env_file=None, demo_mode=True, data_dir=tmp_path).master_key()  # demo makes its own
    with pytest.raises(ValueError):
        Settings(_env_file=None, secret_key=TEST_SECRET_KEY, code_ttl_seconds=601)


def test_original_env_file_names(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text(
        "MAIL_USERNAME=me@gmail.com\nMAIL_PASSWORD=app-pass\nMAIL_FROM=me@gmail.com\n"
        "MAIL_SERVER=smtp.gmail.com\nMAIL_PORT=587\nMONGO_URL=mongodb://localhost:27017\n"
        f"RECIPIENTS=user1@gmail.com,user2@gmail.com\nSECRET_KEY={TEST_SECRET_KEY}\n"
    )
    s = Settings(_env_file=env)
    assert s.recipient_list == ["user1@gmail.com", "user2@gmail.com"] and s.mail_port == 587
    assert s.mongo_url == "mongodb://localhost:27017" and s.mail_password.get_secret_value() == "app-pass"
    assert "app-pass" not in repr(s)


def test_cors_off_unless_configured(tmp_path):
    plain = create_app(Settings(_env_file=None, secret_key=TEST_SECRET_KEY, data_dir=tmp_path))
    assert not any("CORS" in str(m) for m in plain.user_middleware)
    cors = create_app(
        Settings(
            _env_file=None, secret_key=TEST_SECRET_KEY, data_dir=tmp_path, cors_origins="https://admin.example.com"
        )
    )
    assert any("CORS" in str(m) for m in cors.user_middleware)


async def test_no_code_secret_or_password_in_logs(make_harness, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    async with make_harness() as h:
        device = await h.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        code = h.latest_code(1)
        await device.verify(cid, "000000" if code != "000000" else "111111")
        await device.verify(cid, code)
        secret = device.key.hex()
    async with make_harness(
        mail_port=dead, mail_password="hunter2-app-password", mail_username="door@example.com"
    ) as h2:
        d2 = await h2.add_door()
        await d2.request_code()
    logged = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records)
    assert caplog.records, "expected some log lines"
    for needle in (secret, "hunter2-app-password", TEST_SECRET_KEY):
        assert needle not in logged
    assert not re.search(r"(?<![0-9])" + code + r"(?![0-9])", logged)  # the code as a number of its own
