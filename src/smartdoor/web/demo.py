"""`smartdoor demo`: everything on one machine. The embedded database, the backend, a built-in
SMTP sink (its mails shown at /inbox), one provisioned door, and the firmware's state machine
running as a simulated device (shown at /simulator) against the backend's own URL, over real
HTTP with real signatures. The demo pages are mounted here only, never by `smartdoor serve`."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from smartdoor.access import service as access
from smartdoor.audit import service as audit_service
from smartdoor.doors import service as doors
from smartdoor.errors import AlreadyExists
from smartdoor.mail.sink import MailSink, start_sink
from smartdoor.main import create_app
from smartdoor.people import service as people
from smartdoor.people.models import Person
from smartdoor.server import build_server
from smartdoor.settings import Settings, UnsafeSettings
from smartdoor.simulator.device import DeviceThread, SimulatedDevice
from smartdoor.store.database import Database
from smartdoor.web.routes import build_router
from smartdoor.web.same_origin import SameOrigin, is_loopback

DEMO_DOOR = "Demo door"
DEMO_RECIPIENT = "demo@example.com"
# one person with a keypad number of their own, so the demo shows both flows: * or #, then
# 1234 and # mails the code to them alone; # alone, to the door's shared recipient
DEMO_PERSON_NAME = "Demo visitor"
DEMO_PERSON_EMAIL = "visitor@example.com"
DEMO_PERSON_KEYPAD = "1234"
DEFAULT_DATA_DIR = Path("./data")


class DemoSettings(Settings):
    """Only what demo_settings passes, and the defaults: no .env and no environment variable
    is read, so neither can point the public demo at real recipients or a real database."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def demo_settings(smtp_port: int, *, data_dir: Path = DEFAULT_DATA_DIR) -> Settings:
    """The demo's fixed settings: the embedded database under data_dir, mail to the built-in sink
    (loopback, no TLS, no login), no RECIPIENTS, no legacy routes, no CORS."""
    return DemoSettings(
        demo_mode=True,
        data_dir=data_dir,
        mongo_url=None,
        secret_key="",  # the demo's own key, kept in data_dir
        recipients="",
        legacy_api=False,
        cors_origins="",
        mail_server="127.0.0.1",
        mail_port=smtp_port,
        mail_starttls=False,
        mail_ssl_tls=False,
        mail_username="",
        mail_password="",
        mail_ca_file="",
    )


def url_host(host: str) -> str:
    """The address a browser on this machine (and the simulated door) should use."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def provision_door(
    db: Database, settings: Settings, *, name: str = DEMO_DOOR, recipient: str = DEMO_RECIPIENT
) -> tuple[str, str]:
    """The demo door's id and a usable secret. A door left by an earlier run gets a new secret
    (secrets are never shown twice) and its lockout cleared."""
    keyring = settings.keyring()
    now = datetime.now(UTC)
    existing = await db.doors.find_one({"name": name}, {"_id": 1})
    if existing is None:
        try:
            door, secret = await doors.create_door(db, keyring, name=name, recipients=[recipient], now=now)
            return door["_id"], secret
        except AlreadyExists:  # created meanwhile by another process on the same data dir
            existing = await db.doors.find_one({"name": name}, {"_id": 1})
            if existing is None:
                raise
    door_id = existing["_id"]
    secret = await doors.rotate_secret(db, keyring, door_id=door_id)
    await doors.clear_lockout(db, door_id=door_id)
    await audit_service.record(
        db, now=now, event="lockout_cleared", outcome="info", door=door_id, client="demo", reason="demo restart"
    )
    return door_id, secret


async def provision_person(db: Database, *, door_id: str) -> Person | None:
    """The demo's person and their grant for the demo door (lock and unlock, any time), made
    once; None when the keypad number or the address is taken by someone else (added by hand
    on this data folder): the shared flow still works then."""
    now = datetime.now(UTC)
    person = await people.find_by_email(db, DEMO_PERSON_EMAIL)
    if person is None:
        try:
            person = await people.add_person(
                db, name=DEMO_PERSON_NAME, email=DEMO_PERSON_EMAIL, keypad=DEMO_PERSON_KEYPAD, now=now
            )
        except AlreadyExists:
            return None
        await audit_service.record(db, now=now, event="person_added", outcome="info", person=person["_id"],
                                   role=person["role"], client="demo", actor="demo")  # fmt: skip
    if person["keypad"] != DEMO_PERSON_KEYPAD or not person["active"]:
        return None  # changed by hand: leave it
    if not await access.list_grants(db, person_id=person["_id"], door_id=door_id):
        grant = await access.add_grant(
            db, person_id=person["_id"], door_id=door_id, actions=["lock", "unlock"], now=now
        )
        await audit_service.record(db, now=now, event="grant_added", outcome="info", person=person["_id"],
                                   door=door_id, grant=grant["_id"], actions=grant["actions"], client="demo",
                                   actor="demo")  # fmt: skip
    return person


@dataclass
class Demo:
    settings: Settings
    sink: MailSink
    host: str = "127.0.0.1"
    port: int = 8000
    server: uvicorn.Server | None = None
    thread: DeviceThread | None = None
    door_id: str | None = None
    person: tuple[str, str] | None = None  # the demo person's keypad number and name, shown on the page
    same_origin: SameOrigin = field(init=False)

    def __post_init__(self) -> None:
        self.same_origin = SameOrigin(self.host, self.port)

    @property
    def base_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def page_url(self) -> str:
        return self.base_url + "/simulator"

    def build_app(self) -> FastAPI:
        router = build_router(
            lambda: self.thread,
            self.sink,
            same_origin=self.same_origin,
            door_name=DEMO_DOOR,
            person=lambda: self.person,
        )
        app = create_app(self.settings, extra_routers=(router,))
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI):
            async with inner(app) as state:
                db = app.state.services.db
                self.door_id, secret = await provision_door(db, self.settings)
                person = await provision_person(db, door_id=self.door_id)
                self.person = (person["keypad"], person["name"]) if person else None
                device = SimulatedDevice(self.base_url, self.door_id, secret)
                thread = DeviceThread(device, ready=lambda: self.server is None or self.server.started)
                thread.start()
                self.thread = thread
                try:
                    yield state
                finally:  # stop the device before the database goes away
                    await asyncio.to_thread(thread.stop)

        app.router.lifespan_context = lifespan
        return app


class DemoServer(uvicorn.Server):
    """uvicorn, plus the one line to open once it listens."""

    def __init__(self, config: uvicorn.Config, demo: Demo) -> None:
        super().__init__(config)
        self.demo = demo

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            print(f"Smart Door demo: open {self.demo.page_url}  (Ctrl-C stops)", flush=True)


def exposure_warning(host: str) -> str | None:
    if is_loopback(host):
        return None
    return (
        f"smartdoor demo: warning: listening on {host or 'every address'}, not loopback: "
        "anyone on the network can press the keys and read the inbox"
    )


def run_demo(host: str = "127.0.0.1", port: int = 8000, data_dir: Path = DEFAULT_DATA_DIR) -> None:
    if warning := exposure_warning(host):
        print(warning, file=sys.stderr, flush=True)
    controller, sink = start_sink()
    try:
        try:
            settings = demo_settings(controller.port, data_dir=data_dir)
        except (UnsafeSettings, ValidationError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            print(f"smartdoor: refusing to start: {message.removeprefix('Value error, ')}", file=sys.stderr)
            raise SystemExit(2) from None
        demo = Demo(settings, sink, host, port)
        app = demo.build_app()
        server = build_server(
            app, settings, host=host, port=port, log_level="warning", server_factory=lambda c: DemoServer(c, demo)
        )
        demo.server = server
        server.run()
    finally:
        controller.stop()
