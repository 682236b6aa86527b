"""A real backend on a loopback port (uvicorn in a thread, embedded DB over a socket, the SMTP
sink), for the simulated device to talk to over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import UTC, datetime

import pytest
import uvicorn

from smartdoor.crypto import Keyring
from smartdoor.doors.service import create_door
from smartdoor.main import create_app
from tests.conftest import build_settings


class LiveBackend:
    def __init__(self, settings, sink) -> None:
        self.settings, self.sink = settings, sink
        self.app = create_app(settings)
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self._serve, name="backend", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            assert self.thread.is_alive(), "backend did not start"
            assert time.monotonic() < deadline, "backend did not start in time"
            time.sleep(0.02)

    def call(self, coro, timeout: float = 10.0):
        """Run a coroutine on the backend's loop (where its database client lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def db(self):
        return self.app.state.services.db

    def add_door(self, name: str = "Sim door", recipients=("alice@example.com",)) -> tuple[str, str]:
        door, secret = self.call(
            create_door(
                self.db,
                Keyring(self.settings.master_key()),
                name=name,
                recipients=list(recipients),
                now=datetime.now(UTC),
            )
        )
        return door["_id"], secret

    def stop(self) -> None:
        try:
            self.call(self.db.db.client.drop_database(self.settings.mongo_db))
        finally:
            self.server.should_exit = True
            self.thread.join(15)
            self.loop.close()


@pytest.fixture
def backend(mongo_uri, tmp_path, smtp_sink):
    controller, sink = smtp_sink
    live = LiveBackend(build_settings(mongo_uri, tmp_path, controller.port), sink)
    live.start()
    yield live
    live.stop()
