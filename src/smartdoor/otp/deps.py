"""What the code engine works with, built once by the app (or a CLI command)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message

from smartdoor.background import Background
from smartdoor.crypto import Keyring
from smartdoor.doors.lockout import Limits
from smartdoor.doors.models import Door
from smartdoor.outbox.service import Outbox
from smartdoor.push.sender import ApprisePusher, Pusher
from smartdoor.settings import Settings
from smartdoor.store.database import Database

SendMail = Callable[[Message], Awaitable[str | None]]
"""Sends one message; returns None when delivered, else a short reason (never raises)."""

MAX_CONFLICTS = 50  # re-reads of a door another request changed meanwhile, before giving up


@dataclass(frozen=True)
class EngineDeps:
    db: Database
    keyring: Keyring
    settings: Settings
    send_mail: SendMail
    outbox: Outbox  # every code and notice mail goes through it (retried when the relay did not take it)
    background: Background = field(default_factory=Background)  # notices sent after the reply
    # push messages (smartdoor.push); without one, apprise with PUSH_TIMEOUT_SECONDS
    pusher: Pusher = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.pusher is None:
            object.__setattr__(self, "pusher", ApprisePusher(timeout_seconds=self.settings.push_timeout_seconds))

    def limits(self, door: Door) -> Limits:
        return self.settings.limits(legacy=bool(door.get("legacy")))

    def recipients(self, door: Door) -> list[str]:
        return list(dict.fromkeys([*door.get("recipients", []), *self.settings.recipient_list]))
