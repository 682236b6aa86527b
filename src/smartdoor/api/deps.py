"""Annotated dependency aliases: routes say what they need, the app state provides it.
(async def: FastAPI would run a plain def dependency in a worker thread on every request.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from smartdoor.api.ledger import Ledger
from smartdoor.audit.noise import UnauthenticatedCounter
from smartdoor.background import Background
from smartdoor.crypto import Keyring
from smartdoor.doors.lockout_memory import LockoutMemory
from smartdoor.mail.sender import Mailer
from smartdoor.otp.deps import EngineDeps
from smartdoor.outbox.mail import mail_deliveries
from smartdoor.outbox.service import Outbox
from smartdoor.push.sender import ApprisePusher, Pusher
from smartdoor.settings import Settings
from smartdoor.store.database import Database
from smartdoor.webhooks.delivery import webhook_deliveries
from smartdoor.webhooks.sender import WebhookSender


@dataclass
class Services:
    """Everything a request may need, built once by the app's lifespan."""

    settings: Settings
    db: Database
    keyring: Keyring
    mailer: Mailer
    clock: Any  # .now() -> aware datetime (smartdoor.clock)
    lockouts: LockoutMemory = field(default_factory=LockoutMemory)
    unauthenticated: UnauthenticatedCounter = field(default_factory=UnauthenticatedCounter)
    background: Background = field(default_factory=Background)  # mail that must not delay a reply
    pusher: Pusher = field(default=None)  # type: ignore[assignment]  # push messages; default: apprise
    ledger: Ledger = field(init=False)  # signed requests acted on once (api.ledger)
    outbox: Outbox = field(init=False)  # every mail, stored sealed and retried; its worker runs with the app
    webhook_sender: WebhookSender | None = field(init=False)  # when WEBHOOK_URLS is set (smartdoor.webhooks)

    def __post_init__(self) -> None:
        if self.pusher is None:
            self.pusher = ApprisePusher(timeout_seconds=self.settings.push_timeout_seconds)
        self.webhook_sender = None
        if urls := self.settings.webhook_url_list:
            key, timeout = (
                self.settings.webhook_secret.get_secret_value().encode(),
                self.settings.webhook_timeout_seconds,
            )
            self.webhook_sender = WebhookSender(urls=urls, key=key, timeout_seconds=timeout)
        deliveries = {
            **mail_deliveries(self.mailer, self.settings),
            **webhook_deliveries(self.webhook_sender, self.clock),
        }
        self.ledger = Ledger(self.db, self.background)
        self.outbox = Outbox(db=self.db, keyring=self.keyring, deliveries=deliveries, clock=self.clock)

    @property
    def engine(self) -> EngineDeps:
        return EngineDeps(
            db=self.db,
            keyring=self.keyring,
            settings=self.settings,
            send_mail=self.mailer.send,
            background=self.background,
            pusher=self.pusher,
            outbox=self.outbox,
        )


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


ClientDep = Annotated[str | None, Depends(client_address)]
