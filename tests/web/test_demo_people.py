"""The demo's person: made once on the demo's data folder, with a grant for the demo door, so a
newcomer sees the person flow next to the shared one; left out if someone took its number."""

from __future__ import annotations

from datetime import UTC, datetime

from smartdoor.access import service as access
from smartdoor.people import service as people
from smartdoor.web.demo import DEMO_PERSON_EMAIL, DEMO_PERSON_KEYPAD, provision_person


async def test_the_demo_person_and_grant_are_made_once(harness):
    door = await harness.add_door("Demo door")
    first = await provision_person(harness.db, door_id=door.door_id)
    again = await provision_person(harness.db, door_id=door.door_id)  # the demo started again
    assert first is not None and again is not None and first["_id"] == again["_id"]
    assert (first["keypad"], first["email"]) == (DEMO_PERSON_KEYPAD, DEMO_PERSON_EMAIL)
    (grant,) = await access.list_grants(harness.db, person_id=first["_id"])
    assert (grant["door"], grant["actions"], grant["schedule"]) == (door.door_id, ["lock", "unlock"], None)
    made = [e["event"] for e in await harness.audit(actor="demo")]
    assert made == ["person_added", "grant_added"]


async def test_a_number_taken_by_hand_leaves_the_demo_without_its_person(harness):
    door = await harness.add_door("Demo door")
    await people.add_person(harness.db, name="Someone", email="someone@example.com", keypad=DEMO_PERSON_KEYPAD,
                            now=datetime.now(UTC))  # fmt: skip
    assert await provision_person(harness.db, door_id=door.door_id) is None
    assert await people.find_by_email(harness.db, DEMO_PERSON_EMAIL) is None
