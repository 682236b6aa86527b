"""From audit events to deliveries: the audit tap (sync, after the write, must not block) picks
the events a webhook is sent for and hands them to a background task, which reads the names
(door, person), makes one payload per event and posts one delivery per receiver to the outbox.
Every receiver gets the same bytes, with the same event `id`, on every attempt."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from smartdoor.background import Background
from smartdoor.store.database import Database
from smartdoor.webhooks import events as webhook_events

log = logging.getLogger(__name__)

Post = Callable[..., Awaitable[None]]
"""post(url=, body=, payload=): keeps one delivery for its attempts (the outbox)."""


class Webhooks:
    def __init__(self, *, db: Database, urls: list[str], background: Background, post: Post) -> None:
        self._db, self._urls, self._background, self._post = db, urls, background, post

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
                await self._post(url=url, body=body, payload=payload)
