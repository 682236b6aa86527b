"""Shared fixtures: the embedded MongoDB-wire server over a real socket (or MONGO_URL), a real
SMTP server on loopback, and the app driven with a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from doorlogic import httpsig
from smartdoor.clock import FakeClock
from smartdoor.doors.service import create_door
from smartdoor.mail.sink import start_sink
from smartdoor.main import create_app
from smartdoor.settings import Settings
from smartdoor.store import embedded

SLOW_TIERS = ("browser", "micropython", "subprocess")


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(tier) for tier in SLOW_TIERS):
            item.add_marker(pytest.mark.slow)


TEST_SECRET_KEY = "k" * 16 + secrets.token_hex(16)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    if os.environ.get("MONGO_URL"):
        yield os.environ["MONGO_URL"]
        return
    server = embedded.start_or_share(tmp_path_factory.mktemp("embedded-db"))
    yield server.uri
    server.stop()


@pytest.fixture
def smtp_sink():
    controller, sink = start_sink()
    yield controller, sink
    controller.stop()


def code_in(mail: dict) -> str:
    return re.search(r"Code: (\d+)", mail["text"]).group(1)


class SignedDevice:
    """A device that signs like the firmware (same httpsig module) and checks reply signatures."""

    def __init__(self, http: httpx.AsyncClient, door_id: str, secret_hex: str, clock: FakeClock) -> None:
        self.http, self.door_id, self.key, self.clock = http, door_id, bytes.fromhex(secret_hex), clock
        self.last_request_headers: dict = {}

    def sign(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        created: int | None = None,
        nonce: str | None = None,
        key: bytes | None = None,
        keyid: str | None = None,
    ) -> dict:
        created = int(self.clock.now().timestamp()) if created is None else created
        headers = httpsig.sign_request(
            key or self.key, keyid or self.door_id, method, path, body, created, nonce or secrets.token_hex(16)
        )
        headers["Content-Type"] = "application/json"
        return headers

    async def post(
        self,
        path: str,
        payload=None,
        *,
        raw: bytes | None = None,
        headers: dict | None = None,
        check_reply: bool = True,
        **sign_options,
    ) -> httpx.Response:
        body = raw if raw is not None else httpx.Request("POST", "/", json=payload).content
        signed = headers if headers is not None else self.sign("POST", path, body, **sign_options)
        self.last_request_headers = signed
        response = await self.http.post(path, content=body, headers=signed)
        if check_reply:
            assert self.reply_verifies(response, signed), f"reply to {path} is not validly signed"
        return response

    def reply_verifies(self, response: httpx.Response, request_headers: dict) -> bool:
        return httpsig.verify_reply(
            self.key,
            self.door_id,
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
            request_headers["Signature"],
        )

    async def request_code(self, action: str = "unlock", **kw) -> httpx.Response:
        return await self.post("/api/v1/otp/request", {"action": action}, **kw)

    async def verify(self, challenge_id: str, code: str, **kw) -> httpx.Response:
        return await self.post("/api/v1/otp/verify", {"challenge_id": challenge_id, "code": code}, **kw)


class Harness:
    def __init__(self, app, http, clock, settings, sink) -> None:
        self.app, self.http, self.clock, self.settings, self.sink = app, http, clock, settings, sink

    @property
    def services(self):
        return self.app.state.services

    @property
    def db(self):
        return self.services.db

    async def add_door(self, name: str = "Front door", recipients=("alice@example.com",)) -> SignedDevice:
        door, secret = await create_door(
            self.db, self.settings.keyring(), name=name, recipients=list(recipients), now=self.clock.now()
        )
        return SignedDevice(self.http, door["_id"], secret, self.clock)

    async def settle(self) -> None:
        """Waits for the work the app does after a reply (watchers' and lockout notices): the
        sink's wait_for blocks this event loop, on which that work runs."""
        await self.services.background.idle()

    def latest_code(self, mails_expected: int) -> str:
        """The code in the newest mail, once `mails_expected` mails have arrived."""
        return code_in(self.sink.wait_for(mails_expected)[0])

    async def audit(self, **flt) -> list[dict]:
        return await self.db.audit.find(flt).sort("at", 1).to_list()


def build_settings(mongo_uri: str, tmp_path: Path, smtp_port: int | None, **overrides) -> Settings:
    values = dict(
        mongo_url=mongo_uri,
        mongo_db="t_" + uuid.uuid4().hex[:12],
        secret_key=TEST_SECRET_KEY,
        data_dir=tmp_path,
        mail_server="127.0.0.1" if smtp_port else "",
        mail_port=smtp_port or 25,
        mail_starttls=False,
        mail_from="door@example.com",
        recipients="",
        # an fsync per write costs most of a test's time on a slow disk; what journaling promises
        # is tested where it matters, with the product's default (DB_JOURNAL=true): the kill tests
        # in tests/backend/store (their servers' own settings) and test_write_concern.py
        db_journal=False,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def running_app(settings: Settings, clock: FakeClock, sink=None, mailer=None, keep_db=False):
    app = create_app(settings, clock=clock, mailer=mailer)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://door.test") as http:
            yield Harness(app, http, clock, settings, sink)
        if not keep_db:
            await app.state.services.db.db.client.drop_database(settings.mongo_db)


@pytest.fixture
def make_harness(mongo_uri, tmp_path, smtp_sink):
    controller, sink = smtp_sink
    clock = FakeClock()

    def make(mailer=None, keep_db=False, **overrides):
        settings = build_settings(mongo_uri, tmp_path, controller.port, **overrides)
        return running_app(settings, clock, sink, mailer, keep_db)

    return make


@pytest.fixture
async def harness(make_harness):
    async with make_harness() as h:
        yield h


# --- a real backend on a loopback port (uvicorn in a thread), for clients over real HTTP ---


class LiveBackend:
    def __init__(self, settings, sink, *, clock=None, routers=None) -> None:
        """clock: the app's clock (a FakeClock for a story across hours); routers(port): extra
        routers to mount (e.g. the demo's simulator page, which must know the port)."""
        self.settings, self.sink = settings, sink
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, clock=clock, extra_routers=routers(self.port) if routers else ())
        self.loop = asyncio.new_event_loop()
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
                self.settings.keyring(),
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


# --- hypothesis: a long local run of the code engine's model test (tests/backend/otp/test_engine_model.py),
# new random sequences each time: about 15 examples a minute on a busy 2-core machine, so stop it (Ctrl-C)
# when you have seen enough. Registered here: --hypothesis-profile is read before the directories' conftests.

SOAK_PROFILE = "engine-model-soak"
hypothesis_settings.register_profile(
    SOAK_PROFILE,
    max_examples=1500,
    stateful_step_count=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
