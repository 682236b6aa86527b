"""The mail delivery kind: a mail's parcel is the message's bytes as the relay gets them
(mail.outgoing: made once, so every attempt sends the same text with the same Message-ID), and
its delivery sends them with the mailer."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import Message
from email.utils import format_datetime, make_msgid

from smartdoor.mail.outgoing import Outgoing
from smartdoor.mail.sender import Mailer
from smartdoor.outbox.backoff import Retry
from smartdoor.outbox.service import Delivery, Parcel, new_parcel_id
from smartdoor.settings import Settings

MAIL = "mail"
CODE_RETRY = Retry(cap_seconds=15.0)  # a code's mail is useless after the code's two minutes
NOTICE_RETRY = Retry(cap_seconds=300.0)
NOTICE_GIVE_UP = timedelta(hours=1)


def mail_deliveries(mailer: Mailer, settings: Settings) -> dict[str, Delivery]:
    """The outbox's deliveries for this process: mail, when a relay is configured (without one,
    a mail is refused at once as "mail not configured", and nothing is stored to retry)."""
    if not settings.mail_configured:
        return {}

    async def deliver(payload: bytes) -> str | None:
        return await mailer.send(Outgoing.read(payload))

    return {MAIL: Delivery(deliver=deliver, attempt_seconds=settings.mail_timeout_seconds)}


def code_mail(
    message: Message, *, door: str, challenge: str, expires_at: datetime, details: dict, now: datetime
) -> Parcel:
    """A code's mail: retried until the code expires, and only while it is the door's live code."""
    parcel_id = f"code:{challenge}"  # one per code
    return Parcel(
        delivery=MAIL, payload=_wire_bytes(message, parcel_id, now=now), door=door, event="mail_delivery",
        details={"challenge": challenge, **details}, give_up_at=expires_at, retry=CODE_RETRY, challenge=challenge,
        id=parcel_id,
    )  # fmt: skip


def notice_mail(message: Message, *, kind: str, door: str, now: datetime, details: dict) -> Parcel:
    """A notice (`unlock_notice`, `lockout_notice`): its audit event is its kind; retried for an hour."""
    parcel_id = new_parcel_id()
    return Parcel(
        delivery=MAIL, payload=_wire_bytes(message, parcel_id, now=now), door=door, event=kind, details=details,
        give_up_at=now + NOTICE_GIVE_UP, retry=NOTICE_RETRY, id=parcel_id,
    )  # fmt: skip


def _wire_bytes(message: Message, parcel_id: str, *, now: datetime) -> bytes:
    if "Message-ID" not in message:  # the same on every attempt: a mail store can tell a resend
        domain = str(message.get("From", "")).rpartition("@")[2].strip(" >") or "smartdoor.invalid"
        message["Message-ID"] = make_msgid(idstring=parcel_id.replace(":", "-"), domain=domain)
    if "Date" not in message:  # when it was written, not when an attempt finally got through
        message["Date"] = format_datetime(now)
    return Outgoing.of(message).data
