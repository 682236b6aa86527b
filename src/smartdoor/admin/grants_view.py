"""Grants as the pages show them: each with its door, what it allows, whether it allows it
right now (and if not, why), and its weekly schedule as a grid of days by hours in the door's
own time zone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smartdoor.access import service as access
from smartdoor.access.schedule import allows, describe, zone
from smartdoor.store.database import Database

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
REASON_WORDS = {"outside_schedule": "outside its hours", "expired_grant": "expired", "not_yet_valid": "not yet valid",
                "uses_exhausted": "all uses spent", "action_not_granted": "not granted"}  # fmt: skip


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def grid(schedule: list[dict] | None) -> list[dict]:
    """7 rows (Monday first) of 24 hour cells: "on" if a window covers the whole hour, "part" if
    some of it, "" if none; any time (None) is all on."""
    rows = []
    for day in range(7):
        cells = []
        for hour in range(24):
            start, end = hour * 60, hour * 60 + 60
            covered = 0
            for window in schedule or []:
                if day in window["days"]:
                    covered += max(0, min(end, _minutes(window["end"])) - max(start, _minutes(window["start"])))
            cells.append("on" if schedule is None or covered >= 60 else ("part" if covered else ""))
        rows.append({"day": DAYS[day], "cells": cells})
    return rows


def view(grant: Any, door: Mapping[str, Any] | None, *, now: datetime) -> dict:  # grant: access.models.Grant
    tz_name = (door or {}).get("timezone") or "UTC"
    why_not = {allows(grant, action=a, now=now, tz=zone(tz_name)) for a in grant["actions"]}
    return {
        **grant,
        "door_name": (door or {}).get("name", grant["door"]),
        "timezone": tz_name,
        "allowed_now": None in why_not,
        "why_not": sorted(REASON_WORDS.get(r, r) for r in why_not if r) if None not in why_not else [],
        "windows": [describe(w) for w in grant.get("schedule") or []],
        "grid": grid(grant.get("schedule")),
    }


async def person_grants(db: Database, *, person_id: str, now: datetime) -> list[dict]:
    grants = await access.list_grants(db, person_id=person_id)
    doors = {d["_id"]: d for d in await db.doors.find({"_id": {"$in": [g["door"] for g in grants]}},
                                                        {"name": 1, "timezone": 1}).to_list()}  # fmt: skip
    return [view(g, doors.get(g["door"]), now=now) for g in grants]


async def door_choices(db: Database) -> list[dict]:
    return [{"id": d["_id"], "name": d["name"], "timezone": d.get("timezone") or "UTC"}
            for d in await db.doors.find({}, {"name": 1, "timezone": 1}).sort("name", 1).to_list()]  # fmt: skip
