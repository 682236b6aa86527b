"""The embedded database is private to the backend's user: real SecantusDB processes, real
sockets, real file modes, and (as root) a probe that really runs as the local user `nobody`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from smartdoor.settings import Settings
from smartdoor.store import embedded
from tests.conftest import TEST_SECRET_KEY

SMARTDOOR = [sys.executable, "-m", "smartdoor.cli"]
CREDENTIALS = "embedded-db.credentials"
UNAUTHORIZED = 13
pytestmark = pytest.mark.subprocess
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a probe as the user nobody")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def tree(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"))]


def loose_entries(root: Path) -> list[str]:
    """Everything under root that group or others may use, with its mode."""
    return [f"{p} {mode(p):04o}" for p in tree(root) if mode(p) & 0o077]


def port_of(data_dir: Path) -> int:
    """The port embedded-db.json names (read as any version of this program writes it)."""
    return urlsplit(json.loads((data_dir / "embedded-db.json").read_text())["uri"]).port


def unauthenticated(port: int) -> MongoClient:
    return MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=3000)


@contextlib.contextmanager
def plain_secantus(storage: Path):
    """SecantusDB as anyone can start it: no --auth, no user of ours."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--port", str(port), "--storage-path", str(storage), "--log-level", "ERROR"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = unauthenticated(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.admin.command("ping")
                break
            except Exception:
                assert process.poll() is None and time.monotonic() < deadline, "plain SecantusDB did not start"
                time.sleep(0.1)
        yield port, process, client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # SecantusDB's own shutdown can wedge; WiredTiger recovers
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def open_parent():
    """A world-traversable (0755) folder, so that whatever stops `nobody` is DATA_DIR's own
    mode, not a private ancestor such as /tmp/pytest-of-root."""
    parent = Path(tempfile.mkdtemp(prefix="smartdoor-private-db-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def private_server(open_parent):
    data_dir = open_parent / "data"
    server = embedded.start_or_share(data_dir)
    server.files_at_start = set(tree(data_dir))
    server.data_dir = data_dir
    yield server
    server.stop()


def test_data_dir_and_every_file_in_it_are_private(private_server):
    data_dir = private_server.data_dir
    with MongoClient(private_server.uri) as client:  # the database child makes new files as it goes
        for n in range(4):
            client.private_test[f"c{n}"].insert_one({"n": n})
        client.drop_database("private_test")
    assert Settings(_env_file=None, demo_mode=True, data_dir=data_dir).master_key()
    assert mode(data_dir) == 0o700
    assert mode(data_dir / CREDENTIALS) == 0o600
    credentials = json.loads((data_dir / CREDENTIALS).read_text())
    assert credentials["password"] not in (data_dir / "embedded-db.json").read_text()
    for name in ("embedded-db.json", "embedded-db.lock", "embedded-db.log", "demo-secret-key", "db"):
        assert (data_dir / name).exists(), name
    made_while_running = set(tree(data_dir)) - private_server.files_at_start
    assert any(p.parent == data_dir / "db" for p in made_while_running), "expected new WiredTiger files"
    assert loose_entries(data_dir) == []
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in tree(data_dir))


def test_an_unauthenticated_client_can_neither_read_nor_write(private_server):
    with MongoClient(private_server.uri) as owner:
        door = {"_id": "d-unauth", "name": "d-unauth", "recipients": ["alice@example.com"], "failures": 100}
        owner.smart_door.doors.insert_one(door)
        owner.smart_door.audit.insert_one({"event": "kept"})
        with unauthenticated(port_of(private_server.data_dir)) as stranger:
            attempts = {
                "find": lambda: stranger.smart_door.doors.find_one({"_id": "d-unauth"}),
                "redirect recipients": lambda: stranger.smart_door.doors.update_one(
                    {"_id": "d-unauth"}, {"$set": {"recipients": ["x@outside.example"], "failures": 0}}
                ),
                "wipe audit": lambda: stranger.smart_door.audit.delete_many({}),
                "plant a user": lambda: stranger.admin.command("createUser", "intruder", pwd="pw", roles=["root"]),
                "list databases": lambda: stranger.list_database_names(),
            }
            for what, attempt in attempts.items():
                with pytest.raises(OperationFailure) as refused:
                    attempt()
                assert refused.value.code == UNAUTHORIZED, what
        door = owner.smart_door.doors.find_one({"_id": "d-unauth"})
        assert door["recipients"] == ["alice@example.com"] and door["failures"] == 100
        assert owner.smart_door.audit.count_documents({"event": "kept"}) == 1
        owner.drop_database("smart_door")


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SMARTDOOR, *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_second_process_shares_the_server_only_with_the_credentials(private_server):
    data_dir = private_server.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "MONGO_"))}
    env.update(DATA_DIR=str(data_dir), SECRET_KEY=TEST_SECRET_KEY)
    state = (data_dir / "embedded-db.json").read_text()
    added = _cli(env, "door", "add", "Shared door", "--json")
    assert added.returncode == 0, added.stderr
    door = json.loads(added.stdout)
    assert (data_dir / "embedded-db.json").read_text() == state  # shared, not restarted
    with MongoClient(private_server.uri) as owner:
        assert owner.smart_door.doors.find_one({"_id": door["id"]})["name"] == "Shared door"

    # the same process without the right password does not get in: it refuses, in one line
    credentials = data_dir / CREDENTIALS
    good = credentials.read_bytes() if credentials.exists() else None
    credentials.write_text(json.dumps({"username": "smartdoor", "password": "not-the-password"}))
    try:
        refused = _cli(env, "door", "list", "--json")
    finally:
        if good is None:
            credentials.unlink()
        else:
            credentials.write_bytes(good)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "in use" in refused.stderr, refused.stderr
    assert (data_dir / "embedded-db.json").read_text() == state
    with MongoClient(private_server.uri) as owner:
        owner.drop_database("smart_door")


@pytest.mark.parametrize("squatter_pid", ["alive", "dead"])
def test_a_stale_state_file_pointing_at_another_server_is_not_trusted(tmp_path, squatter_pid):
    data_dir = tmp_path / "data"
    embedded.start_or_share(data_dir).stop()  # a DATA_DIR that has been used: credentials exist
    with plain_secantus(tmp_path / "squatter-db") as (port, process, squatter):
        if squatter_pid == "alive":
            pid = process.pid
        else:
            gone = subprocess.Popen(["true"])
            gone.wait()
            pid = gone.pid
        # what a crash leaves behind, now naming a port somebody else listens on
        state = {"uri": f"mongodb://127.0.0.1:{port}/?directConnection=true", "port": port, "pid": pid}
        (data_dir / "embedded-db.json").write_text(json.dumps(state))
        server = embedded.start_or_share(data_dir)
        try:
            assert server.owned and server.port != port
            with MongoClient(server.uri) as ours:
                ours.smart_door.doors.insert_one({"_id": "mine"})
            assert "smart_door" not in squatter.list_database_names()
            assert json.loads((data_dir / "embedded-db.json").read_text())["pid"] == server.process.pid
        finally:
            server.stop()


def test_a_user_planted_while_there_was_no_authentication_is_removed(tmp_path, caplog):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    # as on a machine that ran an unauthenticated embedded database: someone added a login
    with plain_secantus(data_dir / "db") as (_port, _process, client):
        client.admin.command("createUser", "intruder", pwd="intruder-pw", roles=["root"])
    with caplog.at_level(logging.WARNING, logger="smartdoor.store"):
        server = embedded.start_or_share(data_dir)
    try:
        intruder = MongoClient(
            f"mongodb://intruder:intruder-pw@127.0.0.1:{port_of(data_dir)}/?directConnection=true",
            serverSelectionTimeoutMS=3000,
        )
        with intruder, pytest.raises(OperationFailure):
            intruder.smart_door.doors.find_one()
        assert [r for r in caplog.records if "intruder@admin" in r.getMessage()]
        with MongoClient(server.uri) as ours:
            users = ours.admin.command("connectionStatus")["authInfo"]["authenticatedUsers"]
            assert users == [{"user": "smartdoor", "db": "admin"}]
    finally:
        server.stop()


def test_a_loose_data_dir_is_tightened_at_start_and_said_once(tmp_path, caplog):
    data_dir = tmp_path / "data"
    (data_dir / "notes").mkdir(parents=True)
    for path in (data_dir, data_dir / "notes"):
        path.chmod(0o755)
    for path in (data_dir / "embedded-db.log", data_dir / "notes" / "old.txt"):
        path.write_text("from an older version\n")
        path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="smartdoor.store"):
        server = embedded.start_or_share(data_dir)
    server.stop()
    assert loose_entries(data_dir) == []
    assert mode(data_dir / "notes") == 0o700 and mode(data_dir / "notes" / "old.txt") == 0o600
    said = [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()]
    assert len(said) == 1 and str(data_dir) in said[0] and "\n" not in said[0]


@as_root
def test_a_data_dir_owned_by_another_user_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    os.chown(data_dir, 65534, 65534)  # e.g. pre-created by nobody where both may create folders
    with pytest.raises(RuntimeError, match="belongs to uid 65534"):
        embedded.start_or_share(data_dir)
    assert not any(data_dir.iterdir())


NOBODY_PROBE = r"""
import json, os, sys
from pymongo import MongoClient
data_dir, port = sys.argv[1], int(sys.argv[2])
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except Exception as exc:
        out[name] = f"{type(exc).__name__} {getattr(exc, 'code', '')}".strip()
attempt("list the parent", lambda: os.listdir(os.path.dirname(data_dir)))
attempt("list DATA_DIR", lambda: os.listdir(data_dir))
for name in ("embedded-db.credentials", "embedded-db.json", "embedded-db.log", "demo-secret-key", "db/WiredTiger.wt"):
    attempt(f"read {name}", lambda: open(os.path.join(data_dir, name), "rb").read())
client = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)
attempt("find doors", lambda: client.smart_door.doors.find_one())
outside = {"$set": {"recipients": ["x@out.example"]}}
attempt("redirect recipients", lambda: client.smart_door.doors.update_many({}, outside))
attempt("clear lockouts", lambda: client.smart_door.doors.update_many({}, {"$set": {"failures": 0}}))
attempt("wipe audit", lambda: client.smart_door.audit.delete_many({}))
guess = MongoClient(f"mongodb://smartdoor:guess@127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)
attempt("log in with a guess", lambda: guess.smart_door.doors.find_one())
print(json.dumps(out))
"""


@as_root
def test_the_local_user_nobody_can_neither_read_data_dir_nor_use_the_database(private_server):
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    if subprocess.run([*as_nobody, sys.executable, "-c", "import pymongo"], capture_output=True).returncode:
        pytest.skip(f"the user nobody cannot run {sys.executable} with pymongo")
    data_dir = private_server.data_dir
    Settings(_env_file=None, demo_mode=True, data_dir=data_dir).master_key()
    with MongoClient(private_server.uri) as owner:
        door = {"_id": "d-nobody", "name": "d-nobody", "recipients": ["alice@example.com"], "failures": 7}
        owner.smart_door.doors.insert_one(door)
        owner.smart_door.audit.insert_one({"event": "kept"})
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", NOBODY_PROBE, str(data_dir), str(port_of(data_dir))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen.pop("list the parent") == "allowed"  # so what stops nobody below is DATA_DIR's own mode
    assert seen.pop("log in with a guess").startswith("OperationFailure")
    assert {what: outcome for what, outcome in seen.items() if outcome != "PermissionError"} == {
        "find doors": "OperationFailure 13",
        "redirect recipients": "OperationFailure 13",
        "clear lockouts": "OperationFailure 13",
        "wipe audit": "OperationFailure 13",
    }
    assert len(seen) == 10
    with MongoClient(private_server.uri) as owner:
        door = owner.smart_door.doors.find_one({"_id": "d-nobody"})
        assert door["recipients"] == ["alice@example.com"] and door["failures"] == 7
        assert owner.smart_door.audit.count_documents({"event": "kept"}) == 1
        owner.drop_database("smart_door")


def test_serve_warns_in_one_line_when_env_file_is_readable_by_others(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"SECRET_KEY={TEST_SECRET_KEY}\nDATA_DIR=./data\n")
    env_file.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "MONGO_", "SECRET_", "DATA_"))}
    port = free_port()
    server = subprocess.Popen(
        [*SMARTDOOR, "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        for line in server.stdout:
            lines.append(line)
            if "Application startup complete" in line or "Traceback" in line:
                break
    finally:
        server.terminate()
        lines += server.communicate(timeout=60)[0].splitlines(keepends=True)
    warnings = [line for line in lines if ".env" in line and "readable" in line]
    assert len(warnings) == 1, "".join(lines)
    assert "SECRET_KEY" in warnings[0] and "0644" in warnings[0] and "chmod 600" in warnings[0]
    assert TEST_SECRET_KEY not in "".join(lines)
