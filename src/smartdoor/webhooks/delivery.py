"""Webhooks as a delivery kind of the outbox (smartdoor.outbox): one parcel per event and
receiver, kind "webhook", whose payload is the receiver's URL and the body (sealed like a mail:
the URL may hold a token), retried with the outbox's backoff (1 s doubling, at most
RETRY.cap_seconds apart) for GIVE_UP, each attempt audited as `webhook_delivery` (the event's id
and type, the receiver's host, the attempt's number and outcome). Signed afresh at every attempt
(`created` is the attempt's time); the body, and so the event's `id`, never changes. A parcel
for a URL that has left WEBHOOK_URLS is dropped when the app starts (`drop_unconfigured`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from smartdoor.audit import service as audit
from smartdoor.crypto import Keyring, Unsealable
from smartdoor.outbox import records
from smartdoor.outbox.backoff import Retry
from smartdoor.outbox.service import Delivery, Parcel
from smartdoor.store.database import Database
from smartdoor.webhooks.sender import WebhookSender, host_of

WEBHOOK = "webhook"  # the delivery kind
EVENT = "webhook_delivery"
GIVE_UP = timedelta(hours=24)  # a receiver down for a day's maintenance still gets the events
RETRY = Retry(cap_seconds=600.0)


def pack(url: str, body: bytes) -> bytes:
    return url.encode() + b"\n" + body  # a configured URL holds no whitespace (settings)


def unpack(payload: bytes) -> tuple[str, bytes]:
    url, _, body = payload.partition(b"\n")
    return url.decode(), body


def webhook_parcel(*, url: str, body: bytes, event: dict, now: datetime) -> Parcel:
    """What the outbox keeps for one event (its payload, events.payload) to one receiver."""
    details = {"type": event["type"], "webhook": event["id"], "receiver": host_of(url)}
    return Parcel(
        delivery=WEBHOOK, payload=pack(url, body), door=event["door"]["id"] or "-", event=EVENT, details=details,
        give_up_at=now + GIVE_UP, retry=RETRY,
    )  # fmt: skip


def webhook_deliveries(sender: WebhookSender | None, clock) -> dict[str, Delivery]:
    """The outbox's deliveries for this process: webhooks, when WEBHOOK_URLS is set."""
    if sender is None:
        return {}

    async def deliver(payload: bytes) -> str | None:
        url, body = unpack(payload)
        return await sender.send(url, body, now=clock.now())

    return {WEBHOOK: Delivery(deliver=deliver, attempt_seconds=sender.timeout_seconds)}


async def drop_unconfigured(db: Database, keyring: Keyring, *, urls: list[str], now: datetime) -> int:
    """Deletes (and audits) the webhook parcels whose URL is no longer in WEBHOOK_URLS: nothing
    more goes to a receiver that was removed. Returns how many."""
    dropped = 0
    for record in await records.collection(db).find({"delivery": WEBHOOK}).to_list():
        try:
            url, _ = unpack(records.open_payload(keyring, record))
        except Unsealable:
            continue  # the outbox gives it up itself
        if url in urls:
            continue
        gone = await records.collection(db).delete_one({"_id": record["_id"], "lease_until": {"$lte": now}})
        if gone.deleted_count:
            dropped += 1
            await audit.record(
                db, now=now, event=f"{WEBHOOK}_dropped", outcome="info", door=record["door"],
                reason="no longer configured", of=EVENT, attempts=record["attempts"],
            )  # fmt: skip
    return dropped
