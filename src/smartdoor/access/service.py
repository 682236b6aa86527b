"""Grants: who may lock or unlock which door, when. Service functions take keyword arguments
and raise domain errors. A grant's `uses` is counted in its door's record (see
access.models); these functions fill it in."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import cast

from smartdoor.access.models import ACTIONS, Grant
from smartdoor.access.schedule import check_schedule
from smartdoor.doors import service as doors
from smartdoor.errors import InvalidInput, NotFound
from smartdoor.people import service as people
from smartdoor.store.database import Database

MAX_USES = 1_000_000
CHANGEABLE = ("actions", "valid_from", "valid_until", "schedule", "max_uses")


def new_grant_id() -> str:
    return "g" + secrets.token_hex(6)


def _clean_actions(actions) -> list:
    if not isinstance(actions, list | tuple) or not actions or not set(actions) <= set(ACTIONS):
        raise InvalidInput("actions are a non-empty list of lock and unlock")
    return [a for a in ACTIONS if a in actions]


def _clean_instant(value, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{name} is a date and time with its time zone")
    return value.astimezone(UTC)  # stored in UTC, as MongoDB keeps it


def _clean_max_uses(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_USES:
        raise InvalidInput(f"max_uses is a whole number from 1 to {MAX_USES}")
    return value


def _check_validity(fields: dict) -> None:
    start, end = fields.get("valid_from"), fields.get("valid_until")
    if start is not None and end is not None and start >= end:
        raise InvalidInput("valid_from is before valid_until")


async def _with_uses(db: Database, grants: list[dict]) -> list[Grant]:
    door_ids = list({g["door"] for g in grants})
    counts = {
        d["_id"]: d.get("grant_uses") or {}
        for d in await db.doors.find({"_id": {"$in": door_ids}}, {"grant_uses": 1}).to_list()
    }
    return [cast(Grant, {**g, "uses": counts.get(g["door"], {}).get(g["_id"], 0)}) for g in grants]


async def add_grant(
    db: Database,
    *,
    person_id: str,
    door_id: str,
    actions: list[str],
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    schedule: list | None = None,
    max_uses: int | None = None,
    now: datetime,
) -> Grant:
    await people.get_person(db, person_id)
    await doors.get_door(db, door_id)
    fields = {
        "actions": _clean_actions(actions),
        "valid_from": _clean_instant(valid_from, "valid_from"),
        "valid_until": _clean_instant(valid_until, "valid_until"),
        "schedule": check_schedule(schedule),
        "max_uses": _clean_max_uses(max_uses),
    }
    _check_validity(fields)
    grant = {"_id": new_grant_id(), "person": person_id, "door": door_id, **fields, "created_at": now}
    await db.grants.insert_one(grant)
    return cast(Grant, {**grant, "uses": 0})


async def get_grant(db: Database, grant_id: str) -> Grant:
    grant = await db.grants.find_one({"_id": grant_id})
    if grant is None:
        raise NotFound(f"no grant {grant_id!r}", reason="unknown_grant")
    return (await _with_uses(db, [grant]))[0]


async def list_grants(db: Database, *, person_id: str | None = None, door_id: str | None = None) -> list[Grant]:
    flt: dict = {}
    if person_id is not None:
        flt["person"] = person_id
    if door_id is not None:
        flt["door"] = door_id
    return await _with_uses(db, await db.grants.find(flt).sort("created_at", 1).to_list())


async def update_grant(db: Database, *, grant_id: str, now: datetime | None = None, **changes) -> Grant:
    """Changes actions, valid_from, valid_until, schedule or max_uses; None clears an optional
    one (no end date, any time, unlimited). Its person and door stay. A code already mailed
    under the grant is withdrawn: the person asks again under the new terms. `now` stamps that
    withdrawal (default: the system clock)."""
    cleaners = {
        "actions": _clean_actions,
        "valid_from": lambda v: _clean_instant(v, "valid_from"),
        "valid_until": lambda v: _clean_instant(v, "valid_until"),
        "schedule": check_schedule,
        "max_uses": _clean_max_uses,
    }
    if unknown := set(changes) - set(CHANGEABLE):
        raise InvalidInput("cannot change " + ", ".join(sorted(unknown)))
    if not changes:
        raise InvalidInput("nothing to change")
    current = await get_grant(db, grant_id)
    fields = {name: cleaners[name](value) for name, value in changes.items()}
    _check_validity({**current, **fields})
    await db.grants.update_one({"_id": grant_id}, {"$set": fields})
    await doors.withdraw_codes(db, grant_id=grant_id, now=now or datetime.now(UTC))
    return await get_grant(db, grant_id)


async def remove_grant(db: Database, *, grant_id: str, now: datetime | None = None) -> None:
    """The grant goes, with its count of uses and a code already mailed under it."""
    grant = await db.grants.find_one_and_delete({"_id": grant_id})
    if grant is None:
        raise NotFound(f"no grant {grant_id!r}", reason="unknown_grant")
    await doors.withdraw_codes(db, grant_id=grant_id, now=now or datetime.now(UTC))
    await db.doors.update_one({"_id": grant["door"]}, {"$unset": {f"grant_uses.{grant_id}": ""}})
