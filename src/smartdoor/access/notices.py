"""Telling a door's watchers (people, `Door.watchers`) that it was unlocked: who, when by the
door's clock, and how (code, offline code, exit button, remote). The reply to the door is
never held up by it: the message is built and sent in the background (bounded by
MAIL_TIMEOUT_SECONDS), and its audit event (`unlock_notice`) is written when the send ends.
The message never holds a code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smartdoor.audit import service as audit
from smartdoor.doors.models import Door
from smartdoor.mail import message as mail_message
from smartdoor.otp.deps import EngineDeps

CLI = "cli"  # the actor of an administrator's command at the shell
HOME_ASSISTANT = "home_assistant"  # the actor of a command from Home Assistant (smartdoor.integrations.mqtt)
# actors that are not a person: who they are, in a notice
NOT_PEOPLE = {CLI: "an administrator (command line)", HOME_ASSISTANT: "Home Assistant"}


def person_of(actor: str | None) -> str | None:
    """The person id behind a remote command's sender, None for the shell or Home Assistant."""
    return None if actor is None or actor in NOT_PEOPLE else actor


@dataclass(frozen=True)
class Unlock:
    at: datetime
    how: str  # code | offline_code | exit_button | remote
    person: str | None = None  # the person id it was for (a person code, an offline credential, the remote's sender)
    label: str | None = None  # an offline credential's label
    by: str | None = None  # a remote command's sender: a person id, "cli" or "home_assistant"


async def watcher_addresses(deps: EngineDeps, door: Door) -> list[str]:
    """The e-mail addresses of the door's watchers who are still active."""
    watchers = door.get("watchers") or []
    if not watchers:
        return []
    found = {
        p["_id"]: p
        for p in await deps.db.people.find({"_id": {"$in": watchers}, "active": True}, {"email": 1}).to_list()
    }
    return [found[w]["email"] for w in watchers if w in found]


def unlocked(deps: EngineDeps, *, door: Door, unlocks: list[Unlock], now: datetime) -> None:
    """Mails the door's watchers about these unlocks, after the reply (nothing to do for a door
    nobody watches: no task, no read)."""
    if door.get("watchers") and unlocks:
        deps.background.spawn(_send(deps, door=door, unlocks=unlocks, now=now))


async def _send(deps: EngineDeps, *, door: Door, unlocks: list[Unlock], now: datetime) -> None:
    to = await watcher_addresses(deps, door)
    if not to:
        return
    named = {u.person for u in unlocks if u.person} | {u.by for u in unlocks if person_of(u.by)}
    people = await deps.db.people.find({"_id": {"$in": list(named)}}, {"name": 1}).to_list()
    names = {p["_id"]: p["name"] for p in people}
    tz_name = door.get("timezone") or "UTC"
    lines = [
        mail_message.UnlockLine(when=mail_message.local_time(u.at, tz_name), how=u.how, who=_who(u, names))
        for u in unlocks
    ]
    error = await deps.send_mail(
        mail_message.unlock_message(
            sender=deps.settings.mail_from, to=to, door_name=door["name"], tz_name=tz_name, unlocks=lines
        )
    )
    await audit.record(
        deps.db, now=now, event="unlock_notice", outcome="failure" if error else "success", door=door["_id"],
        reason=error, recipients=len(to), unlocks=len(unlocks),
        person=unlocks[0].person if len(unlocks) == 1 else None,
    )  # fmt: skip


def _who(unlock: Unlock, names: dict[str, str]) -> str | None:
    if unlock.how == "remote":
        if unlock.by in NOT_PEOPLE:
            return NOT_PEOPLE[unlock.by]
        return names.get(unlock.by or "", "an administrator")
    name = names.get(unlock.person or "")
    if unlock.label:
        return f"{name} ({unlock.label})" if name else unlock.label
    return name
