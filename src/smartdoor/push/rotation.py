"""Changing SECRET_KEY re-seals people's push URLs too (smartdoor rotate-key, after the doors):
each is opened with whichever key sealed it and sealed again under the new one, one person per
conditional update, so running it again or while the server runs is safe."""

from __future__ import annotations

from dataclasses import dataclass, field

from bson.binary import Binary

from smartdoor.crypto import Keyring, Unsealable
from smartdoor.push.urls import associated
from smartdoor.store.database import Database


@dataclass
class PushRotation:
    resealed: int = 0
    unsealable: list[str] = field(default_factory=list)  # person ids whose URL neither key opens


async def reseal_push_urls(db: Database, *, keyring: Keyring) -> PushRotation:
    report = PushRotation()
    for person in await db.people.find({"push_url": {"$exists": True}}, {"push_url": 1}).to_list():
        slot = associated(person["_id"])
        try:
            url, current = keyring.open_with(slot, bytes(person["push_url"]))
        except Unsealable:
            report.unsealable.append(person["_id"])
            continue
        if current:
            continue
        same = {"_id": person["_id"], "push_url": person["push_url"]}  # unless it was set anew meanwhile
        if (await db.people.update_one(same, {"$set": {"push_url": Binary(keyring.seal(slot, url))}})).modified_count:
            report.resealed += 1
    return report
