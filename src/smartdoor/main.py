"""create_app() builds the app and mounts the routers; nothing else lives here."""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from smartdoor import __version__, admin, integrations
from smartdoor.api import device, errors, health, legacy
from smartdoor.api.db_deadline import DatabaseDeadline
from smartdoor.api.deps import Services
from smartdoor.api.limits import BodyLimit
from smartdoor.api.lockout_gate import LockoutGate
from smartdoor.audit.noise import WINDOW
from smartdoor.clock import SystemClock
from smartdoor.mail.sender import Mailer, SmtpMailer
from smartdoor.otp.expiry import expiry_sweeper
from smartdoor.outbox import records as outbox_records
from smartdoor.runtime import open_database
from smartdoor.settings import Settings
from smartdoor.store.disk import watch_disk
from smartdoor.store.retention import retention_sweeper
from smartdoor.webhooks import service as webhooks


async def _flush_unauthenticated(services: Services) -> None:
    """Counted refusals get their audit event within about a minute even when no further
    request comes to trigger it."""
    while True:
        await asyncio.sleep(WINDOW.total_seconds())
        with contextlib.suppress(Exception):  # an outage must not end the task; counts are kept
            if services.unauthenticated.pending():
                await services.unauthenticated.flush(services.db, now=services.clock.now())


def create_app(
    settings: Settings | None = None, *, clock=None, mailer: Mailer | None = None, extra_routers: tuple = ()
) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with open_database(settings) as db:
            services = Services(
                settings=settings,
                db=db,
                keyring=settings.keyring(),
                mailer=mailer or SmtpMailer(settings),
                clock=clock or SystemClock(),
            )
            app.state.services = services
            app.state.started = time.monotonic()
            await outbox_records.ensure_indexes(db)
            services.outbox.start()
            tasks = [
                asyncio.create_task(expiry_sweeper(db, services.clock, max_attempts=settings.max_attempts_per_code)),
                asyncio.create_task(_flush_unauthenticated(services)),
                asyncio.create_task(retention_sweeper(db, services.clock)),
                asyncio.create_task(watch_disk(settings.data_dir, threshold_percent=settings.disk_warn_percent)),
            ]
            tasks += integrations.start(app, services)  # Home Assistant over MQTT, metrics: when configured
            watching = await webhooks.start(services)  # the audit tap and the offline watcher, with WEBHOOK_URLS
            try:
                yield
            finally:
                for task in watching:  # first: it writes events the webhooks then deliver
                    task.cancel()
                # notices under way get their mail relay's deadline to finish, and so do retries
                await services.background.idle(timeout=settings.mail_timeout_seconds + 1)
                await services.outbox.stop(timeout=services.outbox.attempt_seconds + 1)
                await services.mailer.close()
                if services.webhook_sender is not None:
                    await services.webhook_sender.close()
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                with contextlib.suppress(Exception):
                    await services.unauthenticated.flush(db, now=services.clock.now())

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
    admin.install(app, settings)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["GET", "POST"])
    app.add_middleware(DatabaseDeadline)  # /admin: one deadline per request, not 5 s per operation
    app.add_middleware(LockoutGate)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # outermost
    integrations.install(app, settings)  # /metrics and its timing: outside even that, when METRICS_TOKEN is set
    return app
