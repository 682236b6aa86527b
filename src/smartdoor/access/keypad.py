"""Who is asking at the keypad: the person a typed number names, their grants for this door,
and whether one of them allows the action now. Loaded once per code request (two reads,
whether or not the number exists, so the time taken tells nothing either); decided again on
every re-read of the door, whose record holds the grants' use counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from smartdoor.access import schedule
from smartdoor.access.models import Grant
from smartdoor.doors.models import Door
from smartdoor.people.models import Person
from smartdoor.store.database import Database

NOBODY = "-"  # a person id no one has: the grants query runs for an unknown number too


@dataclass(frozen=True)
class Requester:
    keypad: str
    person: Person | None
    grants: list[Grant]


@dataclass(frozen=True)
class Decision:
    grant: Grant | None  # the grant that allows, or None
    reason: str | None  # None when allowed; else why not (for the audit only)

    @property
    def allowed(self) -> bool:
        return self.reason is None


async def load(db: Database, *, keypad: str, door_id: str) -> Requester:
    person = await db.people.find_one({"keypad": keypad}, {"password_hash": 0})
    grants = await db.grants.find({"person": person["_id"] if person else NOBODY, "door": door_id}).to_list()
    return Requester(keypad=keypad, person=person, grants=grants)


def decide(requester: Requester, *, door: Door, action: str, now: datetime) -> Decision:
    """Reasons: unknown_person, disabled, no_grant, or a grant's (access.schedule.REASONS)."""
    if requester.person is None:
        return Decision(None, "unknown_person")
    if not requester.person.get("active", False):
        return Decision(None, "disabled")
    uses = door.get("grant_uses") or {}
    grants = [cast(Grant, {**g, "uses": uses.get(g["_id"], 0)}) for g in requester.grants]
    grant, reason = schedule.choose(grants, action=action, now=now, tz=schedule.zone(door.get("timezone")))
    return Decision(grant, reason)
