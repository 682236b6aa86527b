"""People: names, unique e-mail addresses and keypad numbers, roles, disabling, removal."""

from __future__ import annotations

import pytest

from smartdoor.errors import AlreadyExists, InvalidInput, NotFound
from smartdoor.people import service as people


async def test_add_list_update_disable_remove(harness):
    db, now = harness.db, harness.clock.now()
    alice = await people.add_person(db, name="Alice", email="Alice@Example.com", role="admin", now=now)
    bob = await people.add_person(db, name="Bob", email="bob@example.com", now=now)
    assert alice["email"] == "alice@example.com" and alice["keypad"] == "100" and bob["keypad"] == "101"
    assert (await people.find_by_keypad(db, "101"))["_id"] == bob["_id"]
    assert (await people.find_by_email(db, " ALICE@example.com "))["_id"] == alice["_id"]
    assert [p["name"] for p in await people.list_people(db)] == ["Alice", "Bob"]
    changed = await people.update_person(db, person_id=bob["_id"], keypad="4711", role="guest")
    assert changed["keypad"] == "4711" and changed["role"] == "guest"
    await people.set_active(db, person_id=bob["_id"], active=False)
    assert (await people.get_person(db, bob["_id"]))["active"] is False
    await db.grants.insert_one({"person": bob["_id"], "door": "d1"})
    await people.remove_person(db, person_id=bob["_id"])
    assert await db.grants.count_documents({}) == 0
    with pytest.raises(NotFound):
        await people.get_person(db, bob["_id"])


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "", "email": "a@example.com"},
        {"name": "X\nY", "email": "a@example.com"},
        {"name": "X", "email": "a@example.com\r\nBcc: evil@example.com"},
        {"name": "X", "email": "not-an-address"},
        {"name": "X", "email": "a@example.com", "role": "root"},
        {"name": "X", "email": "a@example.com", "keypad": "12a"},
        {"name": "X", "email": "a@example.com", "keypad": "1234567"},
    ],
)
async def test_bad_input_is_refused(harness, fields):
    with pytest.raises(InvalidInput):
        await people.add_person(harness.db, now=harness.clock.now(), **fields)
    assert await harness.db.people.count_documents({}) == 0


async def test_email_and_keypad_are_unique(harness):
    db, now = harness.db, harness.clock.now()
    await people.add_person(db, name="A", email="a@example.com", keypad="7", now=now)
    with pytest.raises(AlreadyExists):
        await people.add_person(db, name="B", email="A@example.com", now=now)
    with pytest.raises(AlreadyExists):
        await people.add_person(db, name="B", email="b@example.com", keypad="7", now=now)
    with pytest.raises(InvalidInput):
        await people.update_person(db, person_id="x", password_hash="nope")
