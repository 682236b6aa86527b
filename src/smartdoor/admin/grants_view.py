"""Grants as the pages show them (filled in once smartdoor.access is there)."""

from __future__ import annotations

from datetime import datetime

from smartdoor.store.database import Database

AVAILABLE = False


async def person_grants(db: Database, *, person_id: str, now: datetime) -> list[dict]:
    return []


async def door_choices(db: Database) -> list[dict]:
    return [{"id": d["_id"], "name": d["name"]} for d in await db.doors.find({}, {"name": 1}).sort("name", 1).to_list()]
