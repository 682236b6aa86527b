"""The shape of a person's record in MongoDB (collection `people`).

A person has a role: `admin` (runs the installation, logs in to /admin), `member` (may log in
to see their own grants and history) or `guest` (needs no login; gets codes while a grant
allows). The keypad number is typed on a door to say who is asking for a code: short and not
secret (the code mailed to the person is the secret). Access itself is in grants
(smartdoor.access). Codes and notices go to the person's e-mail, their push channel or both."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NotRequired, TypedDict

Role = Literal["admin", "member", "guest"]
Delivery = Literal["email", "push", "both"]
ROLES: tuple[Role, ...] = ("admin", "member", "guest")
KEYPAD_DIGITS = (1, 6)  # a keypad number is 1 to 6 digits


class Person(TypedDict):
    _id: str
    name: str
    email: str  # lower case, unique
    role: Role
    active: bool
    keypad: str  # digits, unique
    created_at: datetime
    password_hash: NotRequired[str]  # argon2id, admins and members who set one (smartdoor.admin)
    # push notifications (smartdoor.push): an apprise URL, sealed (it holds the channel's token),
    # the name of its service to show instead of it, and where codes and notices go (default e-mail)
    push_url: NotRequired[bytes]
    push_service: NotRequired[str]
    delivery: NotRequired[Delivery]
