"""Passkeys (WebAuthn, the `webauthn` package): registering one, and logging in with one as the
second factor. A passkey is stored as its credential id, public key and signature counter
(collection `passkeys`); a signature counter that goes backwards (a cloned authenticator) is
refused by the library. Challenges are random, kept in the session that asked for them, and
used once."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from bson.binary import Binary
from pymongo.errors import DuplicateKeyError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from smartdoor.errors import AlreadyExists, InvalidInput, NotFound
from smartdoor.store.database import Database

RP_NAME = "Smart Door"
MAX_PASSKEYS = 10
MAX_LABEL = 40
log = logging.getLogger(__name__)


async def of_person(db: Database, person_id: str) -> list[dict]:
    return await db.passkeys.find({"person": person_id}, {"public_key": 0}).sort("created_at", 1).to_list()


def _descriptors(keys: list[dict]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(k["_id"])) for k in keys]


async def registration_options(db: Database, *, person: dict, rp_id: str) -> tuple[dict, bytes]:
    """The options for navigator.credentials.create(), and the challenge to keep."""
    existing = await of_person(db, person["_id"])
    if len(existing) >= MAX_PASSKEYS:
        raise InvalidInput(f"at most {MAX_PASSKEYS} passkeys: remove one first")
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_name=person["email"],
        user_id=person["_id"].encode(),  # random, not personal
        user_display_name=person["name"],
        exclude_credentials=_descriptors(existing),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED
        ),
    )
    return json.loads(options_to_json(options)), options.challenge


def clean_label(label: object) -> str:
    text = label.strip() if isinstance(label, str) else ""
    if not text:
        return "passkey"
    if len(text) > MAX_LABEL or not text.isprintable():
        raise InvalidInput(f"a passkey's name is at most {MAX_LABEL} printable characters")
    return text


async def register(
    db: Database, *, person_id: str, credential: object, challenge: bytes, rp_id: str, origin: str, label: str,
    now: datetime,
) -> dict:  # fmt: skip
    try:
        verified = verify_registration_response(
            credential=credential,  # type: ignore[arg-type]
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except Exception as refused:  # any malformed or forged response: the library's errors and parsing ones
        log.info("passkey registration refused: %s", type(refused).__name__)
        raise InvalidInput("the passkey could not be verified") from None
    record = {
        "_id": bytes_to_base64url(verified.credential_id),
        "person": person_id,
        "public_key": Binary(verified.credential_public_key),
        "sign_count": verified.sign_count,
        "label": label,
        "created_at": now,
        "last_used_at": None,
    }
    try:
        await db.passkeys.insert_one(record)
    except DuplicateKeyError:
        raise AlreadyExists("this passkey is registered already") from None
    return {k: v for k, v in record.items() if k != "public_key"}


async def authentication_options(db: Database, *, person_id: str, rp_id: str) -> tuple[dict, bytes] | None:
    """Options for navigator.credentials.get() limited to the person's passkeys; None if they have none."""
    keys = await of_person(db, person_id)
    if not keys:
        return None
    options = generate_authentication_options(
        rp_id=rp_id, allow_credentials=_descriptors(keys), user_verification=UserVerificationRequirement.PREFERRED
    )
    return json.loads(options_to_json(options)), options.challenge


async def authenticate(
    db: Database, *, person_id: str, credential: object, challenge: bytes, rp_id: str, origin: str, now: datetime
) -> str | None:
    """The id of the person's passkey that signed this challenge, or None."""
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(credential_id, str) or len(credential_id) > 1400:
        return None
    stored = await db.passkeys.find_one({"_id": credential_id, "person": person_id})
    if stored is None:
        return None
    try:
        verified = verify_authentication_response(
            credential=credential,  # type: ignore[arg-type]
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=bytes(stored["public_key"]),
            credential_current_sign_count=stored["sign_count"],
        )
    except Exception as refused:  # forged, replayed, cloned (counter went back) or malformed
        log.info("passkey login refused: %s", type(refused).__name__)
        return None
    # conditional on the counter read: two racing uses of one response cannot both pass
    result = await db.passkeys.update_one(
        {"_id": credential_id, "sign_count": stored["sign_count"]},
        {"$set": {"sign_count": verified.new_sign_count, "last_used_at": now}},
    )
    return credential_id if result.modified_count else None


async def remove(db: Database, *, person_id: str, passkey_id: str) -> None:
    result = await db.passkeys.delete_one({"_id": passkey_id, "person": person_id})
    if not result.deleted_count:
        raise NotFound("no such passkey", reason="unknown_passkey")
