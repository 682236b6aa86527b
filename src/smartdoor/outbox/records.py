"""The outbox's records (MongoDB collection `outbox`): one per parcel not yet delivered or given
up, deleted as soon as it is either.

The payload (for a mail: its headers and body, so addresses and, for a code, the code) is stored
only sealed: AES-GCM under the keyring's key derived from SECRET_KEY (crypto.Keyring.seal), with
the record's own id as associated data, so a sealed payload opens only in the record it was made
for. Everything else in a record is what the retries and the audit need, and names no address
and no code."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NotRequired, TypedDict

from bson.binary import Binary
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from smartdoor.crypto import Keyring
from smartdoor.store.database import Database

COLLECTION = "outbox"
PURGE_AFTER = timedelta(days=1)  # a record no backend process gave up (none ran since) is purged by TTL


class OutboxRecord(TypedDict):
    _id: str  # the parcel's id: "code:<challenge id>" for a code's mail (one per code), else random
    delivery: str  # the delivery kind that sends it ("mail"); a process without it leaves the record alone
    door: str
    challenge: NotRequired[str]  # bound to a code: given up as soon as the door's live code is another
    event: str  # the audit event each attempt writes
    details: dict  # that event's other fields: person, action, recipients (a count)…
    sealed: bytes  # the payload, sealed (see above)
    attempts: int  # attempts made or under way
    next_at: datetime  # due for its next attempt
    lease_until: datetime  # an attempt under way holds the record until then; in the past: free
    lease_owner: str | None  # the process making that attempt
    give_up_at: datetime  # dropped (and audited) when not delivered by then
    retry_first: float  # the wait after the first failed attempt, seconds
    retry_cap: float  # the longest wait between two attempts, seconds
    last_error: str | None
    purge_at: datetime  # the TTL index's, a day after give_up_at


def collection(db: Database) -> AsyncCollection:
    return db.db[COLLECTION]


async def ensure_indexes(db: Database) -> None:
    # idempotent: safe at every start
    await collection(db).create_index([("next_at", ASCENDING)])  # the retry worker's "what is due"
    await collection(db).create_index([("purge_at", ASCENDING)], expireAfterSeconds=0)


def _associated(record_id: str) -> str:
    return f"outbox:{record_id}"


def seal(keyring: Keyring, record_id: str, payload: bytes) -> Binary:
    return Binary(keyring.seal(_associated(record_id), payload))


def open_payload(keyring: Keyring, record: OutboxRecord) -> bytes:
    """The payload back, byte for byte; crypto.Unsealable when sealed under a key the keyring no
    longer holds."""
    return keyring.open(_associated(record["_id"]), bytes(record["sealed"]))


def purge_at(give_up_at: datetime) -> datetime:
    return give_up_at + PURGE_AFTER
