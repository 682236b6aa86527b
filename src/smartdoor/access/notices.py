"""Telling a door's watchers (people, `Door.watchers`) that it was unlocked: who, when by the
door's clock, and how (code, offline code, exit button, remote). The reply to the door is
never held up by it: the message is built in the background and goes through the outbox (its
first attempt at once, bounded by MAIL_TIMEOUT_SECONDS, retries for an hour), which writes an
audit event (`unlock_notice`) for each attempt. A watcher who chose push (smartdoor.push) gets
it there instead of or as well as by e-mail (audited as `push_delivery`). The message never
holds a code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from smartdoor.doors.models import Door
from smartdoor.mail import message as mail_message
from smartdoor.otp.deps import EngineDeps
from smartdoor.outbox.mail import notice_mail
from smartdoor.push import deliver as push_deliver
from smartdoor.push import messages as push_messages
from smartdoor.push import urls as push_urls

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


async def watching(deps: EngineDeps, door: Door) -> list[dict]:
    """The door's watchers who are still active: their e-mail address, where they want notices
    (e-mail, push or both) and their sealed push URL."""
    watchers = door.get("watchers") or []
    if not watchers:
        return []
    fields = {"email": 1, "delivery": 1, "push_url": 1}
    found = {
        p["_id"]: p for p in await deps.db.people.find({"_id": {"$in": watchers}, "active": True}, fields).to_list()
    }
    return [found[w] for w in watchers if w in found]


async def watcher_addresses(deps: EngineDeps, door: Door) -> list[str]:
    """The e-mail addresses of the door's active watchers who take notices by e-mail."""
    return [p["email"] for p in await watching(deps, door) if push_urls.wants_mail(p)]


def unlocked(deps: EngineDeps, *, door: Door, unlocks: list[Unlock], now: datetime) -> None:
    """Mails the door's watchers about these unlocks, after the reply (nothing to do for a door
    nobody watches: no task, no read)."""
    if door.get("watchers") and unlocks:
        deps.background.spawn(_send(deps, door=door, unlocks=unlocks, now=now))


async def _send(deps: EngineDeps, *, door: Door, unlocks: list[Unlock], now: datetime) -> None:
    people = await watching(deps, door)
    to = [p["email"] for p in people if push_urls.wants_mail(p)]
    pushed_to = [p for p in people if push_urls.wants_push(p)]
    if not to and not pushed_to:
        return
    named = {u.person for u in unlocks if u.person} | {u.by for u in unlocks if person_of(u.by)}
    found = await deps.db.people.find({"_id": {"$in": list(named)}}, {"name": 1}).to_list()
    names = {p["_id"]: p["name"] for p in found}
    tz_name = door.get("timezone") or "UTC"
    lines = [
        mail_message.UnlockLine(when=mail_message.local_time(u.at, tz_name), how=u.how, who=_who(u, names))
        for u in unlocks
    ]
    person = unlocks[0].person if len(unlocks) == 1 else None
    await asyncio.gather(
        _mail(deps, door=door, to=to, tz_name=tz_name, lines=lines, unlocks=len(unlocks), person=person, now=now),
        push_deliver.push_notice(
            deps, people=pushed_to, kind="unlock_notice", door=door["_id"], now=now, unlocks=len(unlocks),
            person=person,
            message=push_messages.unlock_push(door_name=door["name"], tz_name=tz_name, unlocks=lines),
        ),
    )  # fmt: skip


async def _mail(
    deps: EngineDeps, *, door: Door, to: list[str], tz_name: str, lines: list, unlocks: int, person, now: datetime
) -> None:
    if not to:
        return
    message = mail_message.unlock_message(
        sender=deps.settings.mail_from, to=to, door_name=door["name"], tz_name=tz_name, unlocks=lines
    )
    details = {"recipients": len(to), "unlocks": unlocks, "person": person}
    await deps.outbox.post(
        notice_mail(message, kind="unlock_notice", door=door["_id"], now=now, details=details), now=now
    )


def _who(unlock: Unlock, names: dict[str, str]) -> str | None:
    if unlock.how == "remote":
        if unlock.by in NOT_PEOPLE:
            return NOT_PEOPLE[unlock.by]
        return names.get(unlock.by or "", "an administrator")
    name = names.get(unlock.person or "")
    if unlock.label:
        return f"{name} ({unlock.label})" if name else unlock.label
    return name
