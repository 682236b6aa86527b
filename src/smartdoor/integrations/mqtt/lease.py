"""Which backend process talks to the broker: the holder of a lease in the database (collection
`leases`, one document per lease). Several `smartdoor serve` processes on one database would
otherwise each connect: each with a last will that says "offline" when it stops while the
others run, each turning one Home Assistant command into a command of its own. The holder
renews the lease well before it runs out; when it stops cleanly it gives it back, and when it
dies another process takes the lease over once it has run out."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from smartdoor.store.database import Database

COLLECTION = "leases"


class Lease:
    def __init__(self, db: Database, *, name: str, holder: str, seconds: float) -> None:
        self.db, self.name, self.holder, self.seconds = db, name, holder, seconds

    async def acquire(self, *, now: datetime) -> bool:
        """Takes the lease if it is free or run out, or renews it if it is ours; False when
        another process holds it. Raises PyMongoError when the database cannot be reached."""
        leases = self.db.db[COLLECTION]  # looked up each time: the handle may reconnect
        try:
            await leases.find_one_and_update(
                {"_id": self.name, "$or": [{"holder": self.holder}, {"until": {"$lte": now}}]},
                {"$set": {"holder": self.holder, "until": now + timedelta(seconds=self.seconds)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # the lease exists and is someone else's
            return False
        return True

    async def release(self) -> None:
        await self.db.db[COLLECTION].delete_one({"_id": self.name, "holder": self.holder})
