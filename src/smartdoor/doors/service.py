"""Doors: who gets the codes, the device secret (sealed at rest), and the lockout state."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from bson.binary import Binary
from cryptography.exceptions import InvalidTag
from pymongo.errors import DuplicateKeyError

from smartdoor.crypto import Keyring
from smartdoor.errors import ApiError
from smartdoor.store.database import Database

SECRET_BYTES = 32
log = logging.getLogger(__name__)


def new_door_id() -> str:
    return "d" + secrets.token_hex(6)


def _validate_recipients(recipients: list[str]) -> list[str]:
    cleaned = []
    for r in recipients:
        r = r.strip()
        if "@" not in r or " " in r or len(r) > 254:
            raise ApiError(422, "invalid_input", f"not an email address: {r!r}")
        cleaned.append(r)
    return cleaned


async def create_door(
    db: Database, keyring: Keyring, *, name: str, recipients: list[str], now: datetime, door_id: str | None = None
) -> tuple[dict, str]:
    """Returns the door and its secret as 64 hex characters: the only time it is shown."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ApiError(422, "invalid_input", "a door name is 1 to 64 characters")
    door_id = door_id or new_door_id()
    secret = secrets.token_bytes(SECRET_BYTES)
    door = {
        "_id": door_id,
        "name": name,
        "recipients": _validate_recipients(recipients),
        "sealed_secret": Binary(keyring.seal(door_id, secret)),
        "created_at": now,
        "failures": 0,
        "locked_until": None,
        "hard_locked": False,
        "lockout_notified": False,
        "recent_requests": [],
        "state": None,
    }
    try:
        await db.doors.insert_one(door)
    except DuplicateKeyError:
        raise ApiError(409, "conflict", f"a door named {name!r} exists already") from None
    return door, secret.hex()


async def get_door(db: Database, door_id: str) -> dict:
    door = await db.doors.find_one({"_id": door_id})
    if door is None:
        raise ApiError(404, "unknown_door", f"no door {door_id!r}")
    return door


async def list_doors(db: Database) -> list[dict]:
    return await db.doors.find({}, {"sealed_secret": 0}).sort("name", 1).to_list()


async def rotate_secret(db: Database, keyring: Keyring, *, door_id: str) -> str:
    secret = secrets.token_bytes(SECRET_BYTES)
    result = await db.doors.update_one(
        {"_id": door_id}, {"$set": {"sealed_secret": Binary(keyring.seal(door_id, secret))}}
    )
    if not result.matched_count:
        raise ApiError(404, "unknown_door", f"no door {door_id!r}")
    return secret.hex()


async def remove_door(db: Database, *, door_id: str) -> None:
    result = await db.doors.delete_one({"_id": door_id})
    if not result.deleted_count:
        raise ApiError(404, "unknown_door", f"no door {door_id!r}")
    await db.challenges.update_many({"door": door_id, "status": "pending"}, {"$set": {"status": "revoked"}})


async def clear_lockout(db: Database, *, door_id: str) -> None:
    result = await db.doors.update_one(
        {"_id": door_id},
        {"$set": {"failures": 0, "locked_until": None, "hard_locked": False, "lockout_notified": False}},
    )
    if not result.matched_count:
        raise ApiError(404, "unknown_door", f"no door {door_id!r}")


def door_key(keyring: Keyring, door: dict) -> bytes:
    try:
        return keyring.open(door["_id"], bytes(door["sealed_secret"]))
    except InvalidTag:
        # sealed under another SECRET_KEY: the device cannot be authenticated, and it is not its fault
        log.error("the secret of door %s cannot be unsealed: was SECRET_KEY changed?", door["_id"])
        raise ApiError(401, "unknown_door", "this door's secret cannot be used; ask the administrator") from None


async def legacy_door(db: Database, keyring: Keyring, *, name: str, now: datetime) -> dict:
    """The one door the seed routes act on; its recipients are RECIPIENTS."""
    door = await db.doors.find_one({"name": name})
    if door is None:
        try:
            door, _ = await create_door(db, keyring, name=name, recipients=[], now=now)
        except ApiError:  # created by a concurrent request
            door = await db.doors.find_one({"name": name})
    return door
