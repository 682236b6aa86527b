"""A SecantusDB server of its own, on a fixed address and storage, as a MongoDB at MONGO_URL
would run: started, killed and started again by the tests."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import AsyncMongoClient

HOST = "127.0.0.1"
LAUNCH_WITH_SWEEP = """
import sys
from secantus.server import SecantusDBServer
host, port, storage, sweep = sys.argv[1:]
server = SecantusDBServer(host, int(port), storage, ttl_sweep_seconds=float(sweep))
server.start()
server.wait()
"""


class DatabaseServer:
    """SecantusDB as a server of its own on a fixed address and storage, as a MongoDB would run."""

    def __init__(self, storage: Path, *, ttl_sweep_seconds: float | None = None) -> None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        self.storage, self.ttl_sweep_seconds = storage, ttl_sweep_seconds
        self.uri = f"mongodb://{HOST}:{self.port}/?directConnection=true"
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float = 90) -> None:
        command = [sys.executable, "-m", "secantus", "--host", HOST, "--port", str(self.port),
                   "--storage-path", str(self.storage), "--log-level", "WARNING"]  # fmt: skip
        if self.ttl_sweep_seconds is not None:
            # the server class itself: its command line does not pass the config file's
            # ttl_sweep_seconds on (SecantusDB 0.7.0b3), so the sweep would stay at 60 s
            command = [sys.executable, "-c", LAUNCH_WITH_SWEEP, HOST, str(self.port), str(self.storage),
                       str(self.ttl_sweep_seconds)]  # fmt: skip
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        client: AsyncMongoClient = AsyncMongoClient(self.uri, serverSelectionTimeoutMS=500)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    await client.admin.command("ping")
                    return
                except Exception:
                    assert self.proc.poll() is None, "the database server ended"
                    assert time.monotonic() < deadline, "the database server did not start"
                    await asyncio.sleep(0.2)
        finally:
            await client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
