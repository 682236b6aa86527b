"""Who opened a door last, from the audit: a right code, an offline code, the exit button or a
remote unlock that the door confirmed. Read per door when the bridge starts, then followed by
the audit events' ids (an ObjectId starts with the second it was made, so a window of a few
seconds before the last look catches events written late by another process; looking at one
twice changes nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from smartdoor.access.notices import person_of
from smartdoor.integrations.mqtt.entities import LastOpened
from smartdoor.store.database import Database

UNLOCKS = {
    "$or": [
        {"event": "verify", "outcome": "success", "action": "unlock"},
        {"event": "exit_button"},
        {"event": "offline_use", "action": "unlock"},
        {"event": "remote_command", "outcome": "success", "action": "unlock"},
    ]
}
HOW = {"verify": "code", "exit_button": "exit_button", "offline_use": "offline_code", "remote_command": "remote"}
FIELDS = {"door": 1, "event": 1, "at": 1, "used_at": 1, "person": 1, "actor": 1, "label": 1}
LOOK_BACK = timedelta(seconds=15)  # longer than an audit write can lag behind its id
MAX_EVENTS = 1000  # per look: more unlocks than that in one refresh are not expected


def _opened(event: dict, people: dict[str, dict]) -> LastOpened:
    how = HOW[event["event"]]
    by = event.get("actor") if how == "remote" else None
    person = event.get("person") or person_of(by)
    known = people.get(person or "", {})
    return LastOpened(
        at=event.get("used_at") or event["at"], how=how, person=person, role=known.get("role"),
        name=known.get("name") or event.get("label"), by=by,
    )  # fmt: skip


async def _people(db: Database, events: Iterable[dict]) -> dict[str, dict]:
    ids = {e.get("person") or person_of(e.get("actor")) for e in events} - {None}
    if not ids:
        return {}
    found = await db.people.find({"_id": {"$in": list(ids)}}, {"name": 1, "role": 1}).to_list()
    return {p["_id"]: p for p in found}


async def latest(db: Database, door_ids: Iterable[str]) -> dict[str, LastOpened]:
    """Each door's last opening (one indexed query per door: the audit's (door, at) index)."""
    events = []
    for door_id in door_ids:
        found = await db.audit.find({"door": door_id, **UNLOCKS}, FIELDS).sort("at", -1).limit(1).to_list()
        events += found
    people = await _people(db, events)
    return {e["door"]: _opened(e, people) for e in events}


def cursor() -> ObjectId:
    """Where to look from next time: a little before now. By the wall clock, not the app's
    clock: an ObjectId holds the second the database driver made it."""
    return ObjectId.from_datetime(datetime.now(UTC) - LOOK_BACK)


async def since(db: Database, after: ObjectId) -> list[tuple[str, LastOpened]]:
    """The openings audited since `after`, oldest first, as (door, opening)."""
    events = await db.audit.find({"_id": {"$gt": after}, **UNLOCKS}, FIELDS).sort("_id", 1).limit(MAX_EVENTS).to_list()
    people = await _people(db, events)
    return [(e["door"], _opened(e, people)) for e in events if e.get("door")]
