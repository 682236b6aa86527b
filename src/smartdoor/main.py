"""create_app() builds the app and mounts the routers; nothing else lives here."""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from smartdoor import __version__
from smartdoor.api import device, errors, health, legacy
from smartdoor.api.deps import Services
from smartdoor.api.limits import BodyLimit
from smartdoor.api.lockout_gate import LockoutGate
from smartdoor.clock import SystemClock
from smartdoor.crypto import Keyring
from smartdoor.mail.sender import Mailer, SmtpMailer
from smartdoor.otp import service as otp_service
from smartdoor.runtime import open_database
from smartdoor.settings import Settings


def create_app(
    settings: Settings | None = None, *, clock=None, mailer: Mailer | None = None, extra_routers: tuple = ()
) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with open_database(settings) as db:
            app.state.services = Services(
                settings=settings,
                db=db,
                keyring=Keyring(settings.master_key()),
                mailer=mailer or SmtpMailer(settings),
                clock=clock or SystemClock(),
            )
            app.state.started = time.monotonic()
            sweeper = asyncio.create_task(otp_service.expiry_sweeper(db, app.state.services.clock))
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    app = FastAPI(
        title="Smart Door",
        version=__version__,
        lifespan=lifespan,
        description="One-time-code door lock backend. Device API: signed with RFC 9421 hmac-sha256.",
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(device.router)
    if settings.legacy_api:
        app.include_router(legacy.router)
    for router in extra_routers:
        app.include_router(router)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["GET", "POST"])
    app.add_middleware(LockoutGate)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # outermost
    return app
