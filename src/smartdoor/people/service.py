"""People: who they are, their role, whether they are active, and the number they type on a
keypad. Service functions take keyword arguments and raise domain errors."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from smartdoor.crypto import Keyring
from smartdoor.doors.service import withdraw_codes
from smartdoor.errors import AlreadyExists, InvalidInput, NotFound
from smartdoor.mail.header_values import HeaderValueError, check_address
from smartdoor.people.models import KEYPAD_DIGITS, ROLES, Person, Role
from smartdoor.push import urls as push_urls
from smartdoor.store.database import Database

MAX_NAME = 64


def new_person_id() -> str:
    return "p" + secrets.token_hex(6)


def _clean_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise InvalidInput(f"a name is 1 to {MAX_NAME} printable characters")
    return name


def _clean_email(email: str) -> str:
    try:
        return check_address(email).lower()
    except HeaderValueError as bad:
        raise InvalidInput(str(bad)) from None


def _clean_keypad(keypad: str) -> str:
    low, high = KEYPAD_DIGITS
    if not isinstance(keypad, str) or not (low <= len(keypad) <= high) or not (keypad.isascii() and keypad.isdigit()):
        raise InvalidInput(f"a keypad number is {low} to {high} digits")
    return keypad


def _clean_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInput("a role is " + ", ".join(ROLES))
    return role


async def _free_keypad_number(db: Database) -> str:
    """The lowest unused number from 100 on (3 digits: quick to type, room for 900 people)."""
    used = {p["keypad"] for p in await db.people.find({}, {"keypad": 1}).to_list()}
    n = 100
    while str(n) in used:
        n += 1
    return str(n)


async def add_person(
    db: Database, *, name: str, email: str, role: str = "member", keypad: str | None = None, now: datetime
) -> Person:
    person: Person = {
        "_id": new_person_id(),
        "name": _clean_name(name),
        "email": _clean_email(email),
        "role": _clean_role(role),
        "active": True,
        "keypad": _clean_keypad(keypad) if keypad is not None else await _free_keypad_number(db),
        "created_at": now,
    }
    try:
        await db.people.insert_one(person)
    except DuplicateKeyError as clash:
        field = "keypad number" if "keypad" in str(clash) else "e-mail address"
        raise AlreadyExists(f"another person has this {field}") from None
    return person


async def get_person(db: Database, person_id: str) -> Person:
    person = await db.people.find_one({"_id": person_id})
    if person is None:
        raise NotFound(f"no person {person_id!r}", reason="unknown_person")
    return person


async def find_by_keypad(db: Database, keypad: str) -> Person | None:
    return await db.people.find_one({"keypad": keypad})


async def find_by_email(db: Database, email: str) -> Person | None:
    return await db.people.find_one({"email": email.strip().lower()})


async def list_people(db: Database) -> list[Person]:
    return await db.people.find({}, {"password_hash": 0, "push_url": 0}).sort("name", 1).to_list()


async def set_push(
    db: Database, keyring: Keyring, *, person_id: str, url: str | None = None, delivery: str | None = None
) -> Person:
    """Sets a person's push URL (checked, then sealed; "" removes it, and their delivery goes
    back to e-mail) and where their codes and notices go (`email`, `push`, `both`: the last two
    need a push URL). Returns the person without the sealed URL."""
    person = await get_person(db, person_id)
    fields: dict = {}
    unset: dict = {}
    has_url = bool(person.get("push_url"))
    if url == "":
        unset = {"push_url": "", "push_service": ""}
        fields["delivery"] = "email"
        has_url = False
    elif url is not None:
        fields["push_service"] = push_urls.check_push_url(url)
        fields["push_url"] = push_urls.seal(keyring, person_id, url)
        has_url = True
    if delivery is not None and url != "":
        fields["delivery"] = push_urls.clean_delivery(delivery)
        if delivery != "email" and not has_url:
            raise InvalidInput("codes and notices can go by push only once the person has a push URL")
    update: dict = {}
    if fields:
        update["$set"] = fields
    if unset:
        update["$unset"] = unset
    if update and not (await db.people.update_one({"_id": person_id}, update)).matched_count:
        raise NotFound(f"no person {person_id!r}", reason="unknown_person")
    after = await get_person(db, person_id)
    after.pop("push_url", None)
    after.pop("password_hash", None)
    return after


async def set_active(db: Database, *, person_id: str, active: bool, now: datetime | None = None) -> None:
    """Disabling also withdraws a code already mailed to them (`now` stamps that; default: the
    system clock)."""
    result = await db.people.update_one({"_id": person_id}, {"$set": {"active": active}})
    if not result.matched_count:
        raise NotFound(f"no person {person_id!r}", reason="unknown_person")
    if not active:
        await withdraw_codes(db, person_id=person_id, now=now or datetime.now(UTC))


async def update_person(db: Database, *, person_id: str, **changes) -> Person:
    """Changes name, email, role or keypad; anything else is refused."""
    cleaners = {"name": _clean_name, "email": _clean_email, "role": _clean_role, "keypad": _clean_keypad}
    unknown = set(changes) - set(cleaners)
    if unknown:
        raise InvalidInput("cannot change " + ", ".join(sorted(unknown)))
    fields = {k: cleaners[k](v) for k, v in changes.items() if v is not None}
    try:
        result = await db.people.update_one({"_id": person_id}, {"$set": fields})
    except DuplicateKeyError:
        raise AlreadyExists("another person has this e-mail address or keypad number") from None
    if not result.matched_count:
        raise NotFound(f"no person {person_id!r}", reason="unknown_person")
    return await get_person(db, person_id)


async def remove_person(db: Database, *, person_id: str, now: datetime | None = None) -> None:
    """The person goes; their grants and a code already mailed to them with them. Their audit stays."""
    result = await db.people.delete_one({"_id": person_id})
    if not result.deleted_count:
        raise NotFound(f"no person {person_id!r}", reason="unknown_person")
    await db.grants.delete_many({"person": person_id})
    await db.doors.update_many({"watchers": person_id}, {"$pull": {"watchers": person_id}})
    await withdraw_codes(db, person_id=person_id, now=now or datetime.now(UTC))
