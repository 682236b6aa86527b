"""The embedded MongoDB-compatible server (SecantusDB) for a machine with no MONGO_URL.

WiredTiger locks its folder, so two processes cannot open one DATA_DIR. The first process
starts `secantusd` as a child and writes its address to DATA_DIR/embedded-db.json; any other
`smartdoor` process on the same DATA_DIR finds that file and connects to the running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

STATE_FILE = "embedded-db.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uri_for(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def _responds(uri: str, timeout_ms: int = 1500) -> bool:
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class EmbeddedServer:
    """A running embedded server: ours (we stop it) or shared (another process owns it)."""

    def __init__(self, uri: str, process: subprocess.Popen | None, state_path: Path) -> None:
        self.uri = uri
        self.process = process
        self._state_path = state_path

    @property
    def owned(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if json.loads(self._state_path.read_text()).get("pid") == self.process.pid:
                self._state_path.unlink()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def start_or_share(data_dir: Path, *, startup_timeout: float = 30.0) -> EmbeddedServer:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state_path = data_dir / STATE_FILE
    with open(data_dir / "embedded-db.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process decides at a time
        try:
            state = json.loads(state_path.read_text())
            if _responds(state["uri"]):
                return EmbeddedServer(state["uri"], None, state_path)
        except (FileNotFoundError, ValueError, KeyError):
            pass
        port = _free_port()
        storage = data_dir / "db"
        storage.mkdir(exist_ok=True)
        log = open(data_dir / "embedded-db.log", "ab")  # noqa: SIM115 (the child keeps it; closed after Popen)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                str(storage),
                "--log-level",
                "WARNING",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=data_dir,
            start_new_session=True,  # Ctrl-C goes to us; we stop it in order
        )
        log.close()
        uri = uri_for(port)
        deadline = time.monotonic() + startup_timeout
        while not _responds(uri, 500):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"embedded database did not start; see {data_dir / 'embedded-db.log'}")
            time.sleep(0.1)
        state_path.write_text(json.dumps({"uri": uri, "pid": process.pid, "started_by": os.getpid()}))
        return EmbeddedServer(uri, process, state_path)
