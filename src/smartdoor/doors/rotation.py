"""Changing SECRET_KEY: every door's sealed secrets are opened with the old key and sealed
again with the new one, one door per atomic update. Safe to run again after an interruption
(a door already sealed under the new key is left alone) and while the server runs (a door
changed meanwhile is read again). Pending codes keep working: a door made before doors had a
code key of their own gets, sealed under the new key, the shared one its codes were hashed
with."""

from __future__ import annotations

from dataclasses import dataclass, field

from bson.binary import Binary

from smartdoor.crypto import Keyring, Unsealable
from smartdoor.doors.offline import seal_id as offline_seal_id
from smartdoor.store.database import Database

MAX_TRIES = 5


@dataclass
class RotationReport:
    rotated: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    unsealable: list[str] = field(default_factory=list)  # sealed under neither key


def _resealed(keyring: Keyring, door: dict) -> dict | None:
    """The door's new sealed fields, or None when all are under the current key already."""
    door_id = door["_id"]
    secret, secret_current = keyring.open_with(door_id, bytes(door["sealed_secret"]))
    if door.get("sealed_code_key") is None:
        code_key, code_current = keyring.previous_shared_code_key(), False
    else:
        code_key, code_current = keyring.open_with(door_id, bytes(door["sealed_code_key"]))
    credentials, all_current = [], secret_current and code_current
    for credential in door.get("offline_credentials") or []:
        slot = offline_seal_id(door_id, credential["id"])
        plain, current = keyring.open_with(slot, bytes(credential["sealed_secret"]))
        credentials.append({**credential, "sealed_secret": Binary(keyring.seal(slot, plain))})
        all_current = all_current and current
    if all_current:
        return None
    fields: dict = {
        "sealed_secret": Binary(keyring.seal(door_id, secret)),
        "sealed_code_key": Binary(keyring.seal(door_id, code_key)),
    }
    if credentials:
        fields["offline_credentials"] = credentials
    return fields


async def rotate_server_key(db: Database, *, keyring: Keyring) -> RotationReport:
    """keyring: the new SECRET_KEY as current, the old one as old."""
    report = RotationReport()
    ids = [d["_id"] for d in await db.doors.find({}, {"_id": 1}).to_list()]
    for door_id in ids:
        for _ in range(MAX_TRIES):
            door = await db.doors.find_one(
                {"_id": door_id},
                {"sealed_secret": 1, "sealed_code_key": 1, "offline_credentials": 1, "offline_version": 1},
            )
            if door is None:  # removed meanwhile
                break
            try:
                fields = _resealed(keyring, door)
            except Unsealable:
                report.unsealable.append(door_id)
                break
            if fields is None:
                report.already.append(door_id)
                break
            # only if nobody changed the sealed fields since we read them
            same = {
                "_id": door_id,
                "sealed_secret": door["sealed_secret"],
                "sealed_code_key": door.get("sealed_code_key"),
            }
            if (await db.doors.update_one(same, {"$set": fields})).modified_count:
                report.rotated.append(door_id)
                break
        else:
            report.unsealable.append(door_id)
    return report
