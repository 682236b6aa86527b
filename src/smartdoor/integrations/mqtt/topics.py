"""Every MQTT topic Smart Door publishes or listens to, in one place.

    <base>/status                               the backend: online / offline (its last will)
    <base>/<door>/availability                  the door: online while its heartbeat is fresh
    <base>/<door>/lock                          LOCKED, UNLOCKED, JAMMED, LOCKING, UNLOCKING (None: unknown)
    <base>/<door>/lock/set                      commands from Home Assistant: LOCK, UNLOCK
    <base>/<door>/door                          ON (open) / OFF (closed), doors with a reed switch
    <base>/<door>/connectivity                  ON / OFF
    <base>/<door>/last_opened[/attributes]      who opened it last (see entities.py)
    <discovery>/<component>/smartdoor_<door>/<object>/config    Home Assistant's discovery
    <discovery>/status                          Home Assistant's own birth message

<base> is MQTT_TOPIC_PREFIX (smartdoor), <discovery> MQTT_DISCOVERY_PREFIX (homeassistant)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# a door id that can be one level of a topic (no /, +, #) and part of a unique_id; door ids
# are "d" + 12 hex digits, so every door made by Smart Door is one
TOPIC_SAFE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
COMMAND = "lock/set"
AVAILABILITY = "availability"


@dataclass(frozen=True)
class Topics:
    base: str = "smartdoor"
    discovery: str = "homeassistant"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery}/status"

    def of_door(self, door_id: str, leaf: str) -> str:
        return f"{self.base}/{door_id}/{leaf}"

    def config(self, component: str, door_id: str, object_id: str) -> str:
        return f"{self.discovery}/{component}/{node_id(door_id)}/{object_id}/config"

    @property
    def commands(self) -> str:
        """The filter every door's command topic matches."""
        return self.of_door("+", COMMAND)

    @property
    def availabilities(self) -> str:
        return self.of_door("+", AVAILABILITY)

    def door_in(self, topic: str, leaf: str) -> str | None:
        """The door id of `<base>/<door>/<leaf>`, or None for any other topic."""
        head, tail = f"{self.base}/", f"/{leaf}"
        if not (topic.startswith(head) and topic.endswith(tail)):
            return None
        door_id = topic[len(head) : len(topic) - len(tail)]
        return door_id if TOPIC_SAFE.match(door_id) else None


def node_id(door_id: str) -> str:
    """The door's device in Home Assistant: its discovery node id and device identifier."""
    return f"smartdoor_{door_id}"
