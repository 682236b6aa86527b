"""A lock command from Home Assistant (`<base>/<door>/lock/set`: LOCK or UNLOCK) becomes a remote
command for the door (doors.service.queue_command): the door carries it out with its next
signed state reply and confirms it, as for an administrator's command. Every command is in the
audit with actor `home_assistant`, queued or refused.

Unlocking from Home Assistant is off unless MQTT_ALLOW_UNLOCK=true, and even then only where the
door allows remote unlocking (`door set --remote-unlock`): whoever may publish on the broker's
command topic could otherwise open the door. A retained command is never carried out (it would
be carried out again at every reconnect), and a command like the one already waiting for the
door is not queued twice (a double tap)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from smartdoor.access.notices import HOME_ASSISTANT
from smartdoor.audit import service as audit
from smartdoor.doors import service as doors
from smartdoor.doors.models import Action
from smartdoor.errors import Forbidden, NotFound

log = logging.getLogger(__name__)
ACTIONS: dict[bytes, Action] = {b"LOCK": "lock", b"UNLOCK": "unlock"}
CLIENT = "mqtt"  # the audit's `client` of a command from Home Assistant


@dataclass(frozen=True)
class Outcome:
    word: str  # queued | already_queued | refused | ignored
    reason: str | None = None


async def carry_out(services, *, door_id: str, payload: bytes, retained: bool, allow_unlock: bool) -> Outcome:
    action = ACTIONS.get(payload.strip())
    if retained or action is None:
        # not a command we act on; nothing of the payload is logged (it could be anything)
        log.warning("Home Assistant: ignored a %s on door %s's command topic", "retained message" if retained
                    else "payload other than LOCK or UNLOCK", door_id)  # fmt: skip
        return Outcome("ignored", "retained" if retained else "bad_payload")
    db, now = services.db, services.clock.now()
    door = await db.doors.find_one({"_id": door_id}, {"command": 1, "remote_unlock": 1})
    if door is None:
        return Outcome("ignored", "unknown_door")
    waiting = doors.deliverable_command(door, now=now, ttl_seconds=services.settings.remote_command_ttl_seconds)
    if waiting and waiting["action"] == action and waiting["by"] == HOME_ASSISTANT:
        return Outcome("already_queued")
    refused = None
    if action == "unlock" and not allow_unlock:
        refused = "mqtt_unlock_disabled"
    else:
        try:
            command = await doors.queue_command(db, door_id=door_id, action=action, by=HOME_ASSISTANT, now=now)
        except Forbidden as forbidden:  # the door does not allow remote unlocking
            refused = forbidden.reason
        except NotFound:  # removed meanwhile
            return Outcome("ignored", "unknown_door")
    if refused:
        await audit.record(
            db, now=now, event="remote_command", outcome="refused", door=door_id, action=action, reason=refused,
            client=CLIENT, actor=HOME_ASSISTANT,
        )  # fmt: skip
        log.info("Home Assistant: %s of door %s refused (%s)", action, door_id, refused)
        return Outcome("refused", refused)
    await audit.record(
        db, now=now, event="remote_command", outcome="info", door=door_id, action=action, reason="queued",
        command=command["id"], client=CLIENT, actor=HOME_ASSISTANT,
    )  # fmt: skip
    return Outcome("queued")
