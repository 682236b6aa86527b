"""A door with a time zone, a person with a keypad number and a grant, on the real app."""

from __future__ import annotations

from dataclasses import dataclass

from smartdoor.access import service as access
from smartdoor.doors import service as doors
from smartdoor.people import service as people
from tests.conftest import Harness, SignedDevice

NOT_ALLOWED = b'{"status":"error","error":"not_allowed","message":"Not allowed now"}'


@dataclass
class Site:
    h: Harness
    device: SignedDevice
    person: dict

    @property
    def door_id(self) -> str:
        return self.device.door_id

    async def ask(self, keypad: str | None = None, action: str = "unlock", **kw):
        body = {"action": action} if keypad is None else {"action": action, "person": keypad}
        return await self.device.post("/api/v1/otp/request", body, **kw)

    async def grant(self, person_id: str | None = None, actions=("unlock",), **fields) -> dict:
        return await access.add_grant(
            self.h.db, person_id=person_id or self.person["_id"], door_id=self.door_id, actions=list(actions),
            now=self.h.clock.now(), **fields,
        )  # fmt: skip

    async def add_person(self, name: str, keypad: str, **kw) -> dict:
        return await people.add_person(
            self.h.db, name=name, email=f"{name.lower()}@example.com", keypad=keypad, now=self.h.clock.now(), **kw
        )

    async def events(self, **flt) -> list[dict]:
        return await self.h.audit(door=self.door_id, **flt)


async def make_site(h: Harness, *, timezone: str = "Europe/Berlin", **settings) -> Site:
    device = await h.add_door(recipients=["shared@example.com"])
    await doors.update_settings(h.db, door_id=device.door_id, timezone=timezone, **settings)
    alice = await people.add_person(h.db, name="Alice", email="alice@example.com", keypad="4711", now=h.clock.now())
    return Site(h, device, alice)
