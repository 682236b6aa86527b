"""Offline codes: TOTP credentials (RFC 6238, SHA-1, 6 digits, 30 s) a door checks by itself
when it cannot reach the backend. The backend makes them, keeps their secrets sealed like the
door's own, hands them to the door only inside signed state replies (encrypted for the way:
see `transit_block`), and records the uses the door uploads when it is back online.

A credential is {id, label, secret, valid_from?, valid_until?}; the list is versioned, and a
door that reports an older version gets the whole list again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote, urlencode

from bson.binary import Binary
from pymongo.errors import DuplicateKeyError

from smartdoor.crypto import Keyring
from smartdoor.doors.models import Door
from smartdoor.errors import InvalidInput, NotFound
from smartdoor.store.database import Database

SECRET_BYTES = 20  # RFC 4226's recommended length for HMAC-SHA-1
ISSUER = "Smart Door"
TRANSIT_CONTEXT = b"smartdoor-offline-v1|"
MAX_CREDENTIALS = 20


def seal_id(door_id: str, credential_id: str) -> str:
    return f"{door_id}/offline/{credential_id}"  # the AEAD's associated data: a sealed secret fits one slot


def otpauth_uri(*, door_name: str, label: str, secret: bytes) -> str:
    account = quote(f"{ISSUER}:{door_name} ({label})")
    query = urlencode(
        {"secret": base64.b32encode(secret).decode().rstrip("="), "issuer": ISSUER, "algorithm": "SHA1",
         "digits": 6, "period": 30}
    )  # fmt: skip
    return f"otpauth://totp/{account}?{query}"


def _clean_label(label: str) -> str:
    label = label.strip()
    if not 1 <= len(label) <= 32 or not label.isprintable():
        raise InvalidInput("a label is 1 to 32 printable characters")
    return label


async def enroll(
    db: Database,
    keyring: Keyring,
    *,
    door_id: str,
    label: str,
    now: datetime,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    person: str | None = None,
) -> tuple[dict, str]:
    """A new credential for the door; returns it (without its secret) and its otpauth URI,
    the only time the secret is shown. `person`: whose it is (a person id), so the audit and
    the watchers' notices name them for its offline uses."""
    label = _clean_label(label)
    if person is not None and await db.people.find_one({"_id": person}, {"_id": 1}) is None:
        raise NotFound(f"no person {person!r}", reason="unknown_person")
    door = await db.doors.find_one({"_id": door_id}, {"name": 1, "offline_credentials": 1})
    if door is None:
        raise NotFound(f"no door {door_id!r}", reason="unknown_door")
    if len(door.get("offline_credentials") or []) >= MAX_CREDENTIALS:
        raise InvalidInput(f"a door holds at most {MAX_CREDENTIALS} offline credentials")
    secret = secrets.token_bytes(SECRET_BYTES)
    credential: dict = {"id": "o" + secrets.token_hex(4), "label": label, "created_at": now}
    if person is not None:
        credential["person"] = person
    if valid_from:
        credential["valid_from"] = valid_from
    if valid_until:
        credential["valid_until"] = valid_until
    stored = {**credential, "sealed_secret": Binary(keyring.seal(seal_id(door_id, credential["id"]), secret))}
    await db.doors.update_one(
        {"_id": door_id}, {"$push": {"offline_credentials": stored}, "$inc": {"offline_version": 1}}
    )
    return credential, otpauth_uri(door_name=door["name"], label=label, secret=secret)


async def revoke(db: Database, *, door_id: str, credential_id: str) -> None:
    result = await db.doors.update_one(
        {"_id": door_id, "offline_credentials.id": credential_id},
        {"$pull": {"offline_credentials": {"id": credential_id}}, "$inc": {"offline_version": 1}},
    )
    if not result.modified_count:
        raise NotFound(f"door {door_id!r} has no offline credential {credential_id!r}", reason="unknown_credential")


def listed(door: Door) -> list[dict]:
    return [{k: v for k, v in c.items() if k != "sealed_secret"} for c in door.get("offline_credentials") or []]


def transit_pad(door_key: bytes, nonce: str, credential_id: str, length: int) -> bytes:
    return hmac.new(
        door_key, TRANSIT_CONTEXT + nonce.encode() + b"|" + credential_id.encode(), hashlib.sha256
    ).digest()[:length]


def transit_block(door: Door, *, keyring: Keyring, door_key: bytes) -> dict:
    """The door's credentials for a signed state reply. Each secret is XORed with a pad only
    the door can make (HMAC-SHA-256 under its own secret, over a fresh nonce and the
    credential id): the reply's signature makes it tamper-proof, the pad keeps it unreadable
    to anyone watching the LAN."""
    nonce = secrets.token_hex(16)
    credentials = []
    for c in door.get("offline_credentials") or []:
        secret = keyring.open(seal_id(door["_id"], c["id"]), bytes(c["sealed_secret"]))
        pad = transit_pad(door_key, nonce, c["id"], len(secret))
        item: dict[str, str | int] = {
            "id": c["id"],
            "label": c["label"],
            "secret": bytes(a ^ b for a, b in zip(secret, pad)).hex(),
        }
        if "valid_from" in c:
            item["valid_from"] = int(c["valid_from"].timestamp())
        if "valid_until" in c:
            item["valid_until"] = int(c["valid_until"].timestamp())
        credentials.append(item)
    return {"version": door.get("offline_version", 0), "nonce": nonce, "credentials": credentials}


async def record_use(db: Database, *, door_id: str, credential: str, step: int, at: datetime) -> bool:
    """True the first time this (door, credential, time step) is reported: a door that
    uploads again after a lost reply counts nothing twice."""
    try:
        await db.offline_uses.insert_one({"_id": f"{door_id}:{credential}:{step}", "door": door_id, "at": at})
    except DuplicateKeyError:
        return False
    return True
