"""Doors: who gets the codes, the sealed device secret and code key, and administration
(lockouts cleared, secrets rotated). The lockout policy itself is in doors.lockout."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from bson.binary import Binary
from pymongo.errors import DuplicateKeyError

from smartdoor.crypto import Keyring, Unsealable
from smartdoor.doors import lockout
from smartdoor.doors.models import Door
from smartdoor.errors import AlreadyExists, InvalidInput, NotAuthenticated, NotFound
from smartdoor.mail.header_values import HeaderValueError, check_address, check_door_name
from smartdoor.store.database import Database

SECRET_BYTES = 32
log = logging.getLogger(__name__)


def new_door_id() -> str:
    return "d" + secrets.token_hex(6)


def _validate_recipients(recipients: list[str]) -> list[str]:
    try:
        return [check_address(r) for r in recipients]
    except HeaderValueError as refused:
        raise InvalidInput(str(refused)) from None


def _sealed(keyring: Keyring, door_id: str, secret: bytes) -> Binary:
    return Binary(keyring.seal(door_id, secret))


async def create_door(
    db: Database,
    keyring: Keyring,
    *,
    name: str,
    recipients: list[str],
    now: datetime,
    door_id: str | None = None,
    legacy: bool = False,
) -> tuple[Door, str]:
    """Returns the door and its secret as 64 hex characters: the only time it is shown."""
    try:
        name = check_door_name(name)
    except HeaderValueError as refused:
        raise InvalidInput(str(refused)) from None
    door_id = door_id or new_door_id()
    secret = secrets.token_bytes(SECRET_BYTES)
    door: Door = {
        "_id": door_id,
        "name": name,
        "recipients": _validate_recipients(recipients),
        "sealed_secret": _sealed(keyring, door_id, secret),
        "sealed_code_key": _sealed(keyring, door_id, secrets.token_bytes(32)),
        "created_at": now,
        "rev": 0,
        "failures": 0,
        "locked_until": None,
        "hard_locked": False,
        "lockout_notified": False,
        "recent_requests": [],
        "pending": None,
        "ended": [],
        "state": None,
    }
    if legacy:
        door["legacy"] = True
    try:
        await db.doors.insert_one(door)
    except DuplicateKeyError:
        raise AlreadyExists(f"a door named {name!r} exists already") from None
    return door, secret.hex()


async def get_door(db: Database, door_id: str) -> Door:
    door = await db.doors.find_one({"_id": door_id})
    if door is None:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")
    return door


async def get_door_by_name(db: Database, name: str) -> Door:
    door = await db.doors.find_one({"name": name})
    if door is None:
        raise NotFound(f"no door named {name!r}", reason="unknown_door")
    return door


async def list_doors(db: Database) -> list[Door]:
    return (
        await db.doors.find({}, {"sealed_secret": 0, "sealed_code_key": 0, "pending": 0, "ended": 0})
        .sort("name", 1)
        .to_list()
    )


async def rotate_secret(db: Database, keyring: Keyring, *, door_id: str) -> str:
    """A new device secret; the old one stops working at once. Pending codes stay valid."""
    secret = secrets.token_bytes(SECRET_BYTES)
    result = await db.doors.update_one({"_id": door_id}, {"$set": {"sealed_secret": _sealed(keyring, door_id, secret)}})
    if not result.matched_count:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")
    return secret.hex()


async def remove_door(db: Database, *, door_id: str) -> None:
    """The door and its pending code go; its audit stays."""
    result = await db.doors.delete_one({"_id": door_id})
    if not result.deleted_count:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")


async def clear_lockout(db: Database, *, door_id: str) -> None:
    result = await db.doors.update_one({"_id": door_id}, {"$set": lockout.CLEARED, "$inc": {"rev": 1}})
    if not result.matched_count:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")


def door_key(keyring: Keyring, door: Door) -> bytes:
    """The device secret: the key its requests are signed with."""
    try:
        return keyring.open(door["_id"], bytes(door["sealed_secret"]))
    except Unsealable:
        # sealed under another SECRET_KEY: the device cannot be authenticated, and it is not its fault
        log.error("the secret of door %s cannot be unsealed: was SECRET_KEY changed?", door["_id"])
        raise NotAuthenticated(
            "this door's secret cannot be used; ask the administrator", reason="unknown_door"
        ) from None


def code_keys(keyring: Keyring, door: Door) -> list[bytes]:
    """The key(s) this door's codes are hashed with: its own, or for a door made before doors
    had one, the shared key derived from SECRET_KEY."""
    sealed = door.get("sealed_code_key")
    if sealed is None:
        return keyring.shared_code_keys()
    return [keyring.open(door["_id"], bytes(sealed))]


async def legacy_door(db: Database, keyring: Keyring, *, name: str, now: datetime) -> Door:
    """The one door the original Arduino sketch's routes act on; its recipients are RECIPIENTS."""
    door = await db.doors.find_one({"name": name})
    if door is None:
        try:
            door, _ = await create_door(db, keyring, name=name, recipients=[], now=now, legacy=True)
        except AlreadyExists:  # created by a concurrent request
            door = await get_door_by_name(db, name)
    if not door.get("legacy"):  # made before doors were marked: its own limits apply from now on
        await db.doors.update_one({"_id": door["_id"]}, {"$set": {"legacy": True}})
        door["legacy"] = True
    return door
