"""Doors: who gets the codes, the sealed device secret and code key, and administration
(lockouts cleared, secrets rotated). The lockout policy itself is in doors.lockout."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from bson.binary import Binary
from pymongo.errors import DuplicateKeyError

from smartdoor.crypto import Keyring, Unsealable
from smartdoor.doors import lockout
from smartdoor.doors.models import Action, Door, RemoteCommand
from smartdoor.doors.pending import end_pending
from smartdoor.errors import AlreadyExists, Forbidden, InvalidInput, NotAuthenticated, NotFound
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
        "timezone": "UTC",
        "shared_codes": True,
        "remote_unlock": True,
        "watchers": [],
        "command": None,
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
    """The door, its pending code and the grants for it go; its audit stays."""
    result = await db.doors.delete_one({"_id": door_id})
    if not result.deleted_count:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")
    await db.grants.delete_many({"door": door_id})


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


# --- people and access: the door's settings, remote commands, withdrawing a person's code ---------


async def set_timezone(db: Database, *, door_id: str, timezone: str) -> None:
    """The IANA time zone the door's grants' weekly windows are read in."""
    await update_settings(db, door_id=door_id, timezone=timezone)


async def update_settings(
    db: Database,
    *,
    door_id: str,
    timezone: str | None = None,
    shared_codes: bool | None = None,
    remote_unlock: bool | None = None,
    watchers: list[str] | None = None,
) -> dict:
    """Changes what is given (None: unchanged); returns the changed fields. Watchers are person
    ids (an empty list: none)."""
    from smartdoor.access.schedule import check_timezone  # access builds on doors, not the reverse

    fields: dict = {}
    if timezone is not None:
        fields["timezone"] = check_timezone(timezone)
    for name, flag in (("shared_codes", shared_codes), ("remote_unlock", remote_unlock)):
        if flag is not None:
            if not isinstance(flag, bool):
                raise InvalidInput(f"{name} is true or false")
            fields[name] = flag
    if watchers is not None:
        unique = list(dict.fromkeys(watchers))
        if not all(isinstance(w, str) for w in unique) or len(unique) > MAX_WATCHERS:
            raise InvalidInput(f"at most {MAX_WATCHERS} watchers, each a person id")
        known = {p["_id"] for p in await db.people.find({"_id": {"$in": unique}}, {"_id": 1}).to_list()}
        if missing := [w for w in unique if w not in known]:
            raise NotFound(f"no person {missing[0]!r}", reason="unknown_person")
        fields["watchers"] = unique
    if not fields:
        raise InvalidInput("nothing to change")
    result = await db.doors.update_one({"_id": door_id}, {"$set": fields})
    if not result.matched_count:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")
    return fields


MAX_WATCHERS = 20


async def queue_command(db: Database, *, door_id: str, action: Action, by: str, now: datetime) -> RemoteCommand:
    """A remote lock or unlock for the door's next state report; replaces one not yet done.
    Unlocking is refused (Forbidden, "remote_unlock_disabled") where the door's remote_unlock
    is off."""
    if action not in ("lock", "unlock"):
        raise InvalidInput("a remote command is lock or unlock")
    door = await get_door(db, door_id)
    if action == "unlock" and not door.get("remote_unlock", True):
        raise Forbidden("this door may not be unlocked remotely", reason="remote_unlock_disabled")
    command = RemoteCommand(id="c" + secrets.token_hex(6), action=action, by=by, at=now)
    await db.doors.update_one({"_id": door_id}, {"$set": {"command": command}})
    return command


def deliverable_command(door: Door, *, now: datetime, ttl_seconds: int) -> RemoteCommand | None:
    """The command to hand the door with its state reply: queued less than ttl_seconds ago,
    and an unlock only while the door still allows remote unlocking."""
    command = door.get("command")
    if not command or now - command["at"] >= timedelta(seconds=ttl_seconds):
        return None
    if command["action"] == "unlock" and not door.get("remote_unlock", True):
        return None
    return command


async def finish_command(db: Database, *, door_id: str, command_id: str) -> RemoteCommand | None:
    """Clears the door's command if it is this one (the door reported it done); returns it, or
    None when it was not pending (already cleared, replaced, or never queued)."""
    door = await db.doors.find_one_and_update(
        {"_id": door_id, "command.id": command_id}, {"$set": {"command": None}}, projection={"command": 1}
    )
    return door["command"] if door else None


async def withdraw_codes(
    db: Database, *, now: datetime, person_id: str | None = None, grant_id: str | None = None
) -> int:
    """Ends the live codes asked for by this person (or under this grant) at once, e.g. when their
    grant is removed or they are disabled: a mailed code must not outlive the right to use it.
    Returns how many were withdrawn."""
    field, value = ("pending.grant", grant_id) if grant_id else ("pending.person", person_id)
    if value is None:
        raise InvalidInput("withdraw whose codes?")
    withdrawn = 0
    for door in await db.doors.find({field: value}, {"pending": 1}).to_list():
        pending = door["pending"]
        moved = await db.doors.update_one(
            {"_id": door["_id"], "pending.id": pending["id"]},
            end_pending(pending, "withdrawn", now),
        )
        withdrawn += moved.modified_count
    return withdrawn
