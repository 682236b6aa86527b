"""What the code engine works with, built once by the app (or a CLI command)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from smartdoor.background import Background
from smartdoor.clock import SystemClock
from smartdoor.crypto import Keyring
from smartdoor.doors.lockout import Limits
from smartdoor.doors.models import Door
from smartdoor.outbox.service import Outbox
from smartdoor.settings import Settings
from smartdoor.store.database import Database

SendMail = Callable[[EmailMessage], Awaitable[str | None]]
"""Sends one message; returns None when delivered, else a short reason (never raises)."""

MAX_CONFLICTS = 50  # re-reads of a door another request changed meanwhile, before giving up


@dataclass(frozen=True)
class EngineDeps:
    db: Database
    keyring: Keyring
    settings: Settings
    send_mail: SendMail
    background: Background = field(default_factory=Background)  # notices sent after the reply
    # every mail goes through it (stored sealed, retried); the app passes its own, whose worker
    # runs the retries; without one, one is made from the fields above
    outbox: Outbox = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.outbox is None:
            outbox = Outbox(db=self.db, keyring=self.keyring, send=self.send_mail, clock=SystemClock(),
                            settings=self.settings)  # fmt: skip
            object.__setattr__(self, "outbox", outbox)  # frozen: set once, here

    def limits(self, door: Door) -> Limits:
        return self.settings.limits(legacy=bool(door.get("legacy")))

    def recipients(self, door: Door) -> list[str]:
        return list(dict.fromkeys([*door.get("recipients", []), *self.settings.recipient_list]))
