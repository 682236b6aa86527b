"""From audit events to deliveries: the audit tap (sync, after the write, must not block) picks
the events a webhook is sent for and hands them to a background task, which reads the names
(door, person), makes one payload per event and posts one delivery per receiver to the outbox.
Every receiver gets the same bytes, with the same event `id`, on every attempt."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from smartdoor.background import Background
from smartdoor.store.database import Database
from smartdoor.webhooks import delivery
from smartdoor.webhooks import events as webhook_events
from smartdoor.webhooks.offline_watch import watch_offline_doors

log = logging.getLogger(__name__)

Post = Callable[..., Awaitable[None]]
"""post(url=, body=, payload=, now=): keeps one delivery for its attempts (the outbox)."""


class Webhooks:
    def __init__(self, *, db: Database, urls: list[str], background: Background, post: Post, clock) -> None:
        self._db, self._urls, self._background, self._post, self._clock = db, urls, background, post, clock

    def observe_audit(self, events: list[dict]) -> None:
        """The audit tap: never blocks the request that wrote the events, never raises into it."""
        picked = [(event, found) for event in events if (found := webhook_events.classify(event))]
        if picked:
            self._background.spawn(self._deliver(picked))

    async def _deliver(self, picked: list[tuple[dict, tuple[str, dict]]]) -> None:
        door_ids = {e["door"] for e, _ in picked if e.get("door")}
        person_ids = {e["person"] for e, _ in picked if e.get("person")}
        doors = {
            d["_id"]: d["name"]
            for d in await self._db.doors.find({"_id": {"$in": list(door_ids)}}, {"name": 1}).to_list()
        }
        people = {
            p["_id"]: p["name"]
            for p in await self._db.people.find({"_id": {"$in": list(person_ids)}}, {"name": 1}).to_list()
        }
        for event, (kind, details) in picked:
            payload = webhook_events.payload(
                event, kind=kind, details=details, door_name=doors.get(event.get("door")),
                person_name=people.get(event.get("person")),
            )  # fmt: skip
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            for url in self._urls:
                await self._post(url=url, body=body, payload=payload, now=self._clock.now())


async def start(services) -> list[asyncio.Task]:
    """At the app's start, when WEBHOOK_URLS is set: parcels for URLs no longer configured are
    dropped, the audit tap is added and the offline watcher started (the tasks to cancel at
    stop). The sender and its outbox delivery are made with the services."""
    sender = services.webhook_sender
    if sender is None:
        return []
    outbox = services.outbox
    await delivery.drop_unconfigured(services.db, services.keyring, urls=sender.urls, now=services.clock.now())

    async def post(*, url: str, body: bytes, payload: dict, now) -> None:
        await outbox.post(delivery.webhook_parcel(url=url, body=body, event=payload, now=now), now=now)

    hooks = Webhooks(db=services.db, urls=sender.urls, background=services.background, post=post,
                     clock=services.clock)  # fmt: skip
    services.db.audit_taps.append(hooks.observe_audit)
    return [asyncio.create_task(watch_offline_doors(services.db, services.clock), name="door-offline-watch")]
