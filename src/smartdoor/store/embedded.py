"""The embedded MongoDB-compatible server (SecantusDB) for a machine with no MONGO_URL.

WiredTiger locks its folder, so two processes cannot open one DATA_DIR. The first process
starts SecantusDB's server as a child (store.embedded_process) and writes its address to
DATA_DIR/embedded-db.json; any other `smartdoor` process on the same DATA_DIR finds that file
and connects to the running server.

The server is private to the user that runs the backend: DATA_DIR is 0700 and its files 0600
(private_files), and the server requires SCRAM-SHA-256 with credentials only that user can
read (embedded_auth). embedded-db.json is a hint, never trusted by itself: the server it names
is shared only if the process is alive, is ours, and proves in the SCRAM exchange that it knows
our user's keys (SCRAM authenticates the server to the client too). Anything else listening on
that port — a leftover of a crash, a local user squatting the port — is not used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient

from smartdoor.store.embedded_auth import (
    Credentials,
    ProvisioningFailed,
    load_credentials,
    new_credentials,
    provision,
    save_credentials,
)
from smartdoor.store.private_files import (
    PRIVATE_UMASK,
    DataDirRefused,
    open_private,
    secure_data_dir,
    write_private,
)

log = logging.getLogger("smartdoor.store")

STATE_FILE = "embedded-db.json"
LOCK_FILE = "embedded-db.lock"
LOG_FILE = "embedded-db.log"
DEFAULT_CACHE_MB = 256


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database cannot be started or shared; the message says why in one line."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Whether the database could listen on port now (it binds with SO_REUSEADDR, so the
    connections a killed database left in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def uri_for(port: int) -> str:
    """The server's address without credentials (safe to write down or log)."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def _accepts(port: int, credentials: Credentials, timeout_ms: int = 1500) -> bool:
    """True when the server on port completes SCRAM with our credentials, server proof included."""
    client: MongoClient = MongoClient(
        uri_for(port),
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        **credentials.client_options(),
    )
    try:
        status = client.admin.command("connectionStatus")
        users = status["authInfo"]["authenticatedUsers"]
        return {"user": credentials.username, "db": "admin"} in users
    except Exception:  # whatever a stranger on that port answers (even malformed SCRAM), it is not trusted
        return False
    finally:
        client.close()


def _is_our_process(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.geteuid()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: at least check that it is alive and signalable by us
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


class EmbeddedServer:
    """A running embedded server: ours (we stop it) or shared (another process owns it).

    `uri` carries the credentials (it is what MONGO_URL-shaped callers and `connect()` take):
    never log it. `port` and `credentials` are there for callers that want them apart."""

    def __init__(
        self,
        port: int,
        credentials: Credentials,
        process: subprocess.Popen | None,
        state_path: Path,
        *,
        pid: int | None = None,
    ) -> None:
        self.port = port
        self.credentials = credentials
        self.uri = credentials.uri(port)
        self.process = process
        self.pid = process.pid if process is not None else pid
        self.data_dir = state_path.parent
        self._state_path = state_path

    def __repr__(self) -> str:
        return f"EmbeddedServer(port={self.port}, pid={self.pid}, owned={self.owned})"

    @property
    def owned(self) -> bool:
        return self.process is not None

    def alive(self) -> bool:
        """Whether the database process still exists (ours: not exited; shared: its pid is still
        one of our user's processes). A stopped (SIGSTOP) process is alive: it may continue."""
        if self.process is not None:
            return self.process.poll() is None
        return _is_our_process(self.pid)

    def exit_description(self) -> str:
        """How an owned process ended, for the log: 'killed by SIGKILL', 'exit status 1'."""
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return "gone"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
            return f"killed by signal {-code}"
        return f"exit status {code}"

    def forget(self) -> None:
        """Remove embedded-db.json if it still names this process (ours, and ending or ended)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            if self.process is not None and json.loads(self._state_path.read_text()).get("pid") == self.process.pid:
                self._state_path.unlink()

    def stop(self) -> None:
        if self.process is None:
            return
        self.forget()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def start_or_share(
    data_dir: Path,
    *,
    startup_timeout: float = 30.0,
    preferred_port: int | None = None,
    cache_mb: int = DEFAULT_CACHE_MB,
) -> EmbeddedServer:
    """Share the database another process runs on data_dir, or start our own. A start takes
    preferred_port when it is free (a restarted database keeps its address, so connected
    clients reconnect by themselves), else a free one."""
    data_dir = data_dir.resolve()
    try:
        secure_data_dir(data_dir)
    except DataDirRefused as exc:
        raise EmbeddedDatabaseError(str(exc)) from None
    except OSError as exc:
        raise EmbeddedDatabaseError(f"DATA_DIR {data_dir} cannot be used: {exc}") from None
    state_path = data_dir / STATE_FILE
    with os.fdopen(open_private(data_dir / LOCK_FILE, os.O_RDWR), "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process decides at a time
        try:
            credentials = load_credentials(data_dir)
        except ProvisioningFailed as exc:
            raise EmbeddedDatabaseError(str(exc)) from None
        distrust = None
        if credentials is not None:
            shared, distrust = _share_running(state_path, credentials)
            if shared is not None:
                return shared
        server = _start_own(
            data_dir,
            credentials,
            state_path,
            startup_timeout,
            distrust=distrust,
            preferred_port=preferred_port,
            cache_mb=cache_mb,
        )
        if distrust:
            log.warning("%s: not trusted, started our own database", distrust)
        return server


def _share_running(state_path: Path, credentials: Credentials) -> tuple[EmbeddedServer | None, str | None]:
    """The server embedded-db.json names, if it is ours; otherwise why it is not trusted."""
    try:
        state = json.loads(state_path.read_text())
        port, pid = int(state["port"]), state["pid"]
    except FileNotFoundError:
        return None, None
    except (ValueError, KeyError, TypeError):
        return None, f"{state_path} is unreadable"
    if not _is_our_process(pid):
        return None, f"{state_path} names pid {pid}, which is gone or not ours"
    if not _accepts(port, credentials):
        return None, f"{state_path} names port {port}, but what listens there does not accept our credentials"
    return EmbeddedServer(port, credentials, None, state_path, pid=pid), None


def _start_own(
    data_dir: Path,
    credentials: Credentials | None,
    state_path: Path,
    startup_timeout: float,
    *,
    distrust: str | None,
    preferred_port: int | None = None,
    cache_mb: int = DEFAULT_CACHE_MB,
) -> EmbeddedServer:
    storage = data_dir / "db"
    fresh = credentials is None
    credentials = credentials or new_credentials()
    try:
        provision(storage, credentials, cwd=data_dir)
    except ProvisioningFailed as exc:
        in_use = "resource busy" in str(exc)  # WiredTiger: its lock is held by a live process
        reason = "DATA_DIR is in use by another database process" if in_use else str(exc)
        if distrust:
            reason += f" ({distrust})"
        raise EmbeddedDatabaseError(f"embedded database did not start: {reason}; see {storage}") from None
    if fresh:  # only now: a password no database knows yet is never handed to a sharer
        save_credentials(data_dir, credentials)
    if preferred_port is not None and _port_is_free(preferred_port):
        process = _launch(data_dir, storage, preferred_port, credentials, startup_timeout, cache_mb)
        if process is not None:
            return _started(process, preferred_port, credentials, state_path)
        # someone took the port between the check and the start: any free one will do
    port = _free_port()
    process = _launch(data_dir, storage, port, credentials, startup_timeout, cache_mb)
    if process is None:
        raise EmbeddedDatabaseError(f"embedded database did not start; see {data_dir / LOG_FILE}")
    return _started(process, port, credentials, state_path)


def _launch(
    data_dir: Path, storage: Path, port: int, credentials: Credentials, startup_timeout: float, cache_mb: int
) -> subprocess.Popen | None:
    """The database on port, once it accepts our credentials; None if it exits or does not answer."""
    (data_dir / "embedded-db.toml").unlink(missing_ok=True)  # earlier versions' settings; unused now
    with os.fdopen(open_private(data_dir / LOG_FILE, os.O_WRONLY | os.O_APPEND), "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartdoor.store.embedded_process",  # SecantusDB's server as we run it: see there why
                "--port",
                str(port),
                "--storage-path",
                str(storage),
                "--cache-mb",
                str(cache_mb),
            ],
            stdout=log_file,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            cwd=data_dir,
            umask=PRIVATE_UMASK,  # its WiredTiger files and logs, also those made later, are 0600
            start_new_session=True,  # Ctrl-C goes to us; we stop it in order
        )
    deadline = time.monotonic() + startup_timeout
    while not _accepts(port, credentials, 500):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            return None
        time.sleep(0.1)
    return process


def _started(process: subprocess.Popen, port: int, credentials: Credentials, state_path: Path) -> EmbeddedServer:
    state = {"uri": uri_for(port), "port": port, "pid": process.pid, "started_by": os.getpid()}
    write_private(state_path, json.dumps(state).encode())
    return EmbeddedServer(port, credentials, process, state_path)
