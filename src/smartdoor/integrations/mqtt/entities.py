"""What Home Assistant is told about a door: its entities (discovery configs) and their states,
as retained MQTT messages {topic: payload}. Pure: the bridge reads the door and its last opening
from the database and publishes what changed.

Entities per door (one Home Assistant device, `smartdoor_<door>`):
- lock: LOCKED / UNLOCKED / JAMMED as the door last reported, LOCKING / UNLOCKING while a
  remote command waits for the door; commands LOCK / UNLOCK.
- "Last opened by": who opened the door last and how (attributes: how, person, role, at).
- door (binary_sensor, device class door): only for a door whose reports carry `door_open`
  (a reed switch is fitted).
- connectivity (binary_sensor, diagnostic): whether the door's heartbeat is fresh.

Availability: the lock and the door sensor are available only while the backend is (its status
topic, with an MQTT last will) and the door's heartbeat is fresh (the door's availability
topic), so Home Assistant shows them unavailable, never a stale "unlocked". The connectivity
sensor and "last opened by" need only the backend: they stay true when the door is away.

Personal data: a person's name goes out only with MQTT_PERSON_NAMES=true. A broker is shared by
every device of the house, often without access rules, and keeps retained messages for any
client that subscribes; by default "last opened by" therefore says only the person's id (a
pseudonym Home Assistant can match in an automation) and role, or how the door was opened when
no person is known (shared_code, exit_button, offline_code, home_assistant, cli). An offline
credential's label ("Alice's phone") is a name too and follows the same switch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartdoor import __version__
from smartdoor.integrations.mqtt.topics import AVAILABILITY, COMMAND, Topics, node_id

LOCK = {"locked": "LOCKED", "unlocked": "UNLOCKED", "jammed": "JAMMED"}
MOVING = {"lock": "LOCKING", "unlock": "UNLOCKING"}
UNKNOWN = "None"  # Home Assistant's payload for "state unknown"
ON, OFF = "ON", "OFF"
# (component, object id, state topic leaf) of every entity a door may have
ENTITIES = (
    ("lock", "lock", "lock"),
    ("sensor", "last_opened", "last_opened"),
    ("binary_sensor", "door", "door"),
    ("binary_sensor", "connectivity", "connectivity"),
)
STATE_LEAVES = (AVAILABILITY, "lock", "door", "connectivity", "last_opened", "last_opened/attributes")


@dataclass(frozen=True)
class LastOpened:
    """The door's latest unlock, from the audit."""

    at: datetime
    how: str  # code | offline_code | exit_button | remote
    person: str | None = None  # person id
    role: str | None = None
    name: str | None = None  # the person's name, or an offline credential's label
    by: str | None = None  # a remote command's sender: a person id, "cli" or "home_assistant"

    def state(self, *, names: bool) -> str:
        if names and self.name:
            return self.name
        if self.person:
            return self.person
        if self.how == "remote" and self.by:
            return self.by
        return {"code": "shared_code"}.get(self.how, self.how)

    def attributes(self, *, names: bool) -> dict[str, Any]:
        shown = {"how": self.how, "person": self.person, "role": self.role, "at": self.at.isoformat()}
        if names:
            shown["name"] = self.name
        return shown


@dataclass(frozen=True)
class DoorView:
    id: str
    name: str
    state: str | None  # locked | unlocked | jammed, as last reported
    moving: str | None  # the action of a remote command waiting for the door
    online: bool
    has_reed_switch: bool
    door_open: bool | None
    firmware: str | None = None

    @classmethod
    def of(cls, door: Mapping[str, Any], *, online: bool, pending_action: str | None) -> DoorView:
        return cls(
            id=door["_id"], name=door.get("name") or door["_id"], state=door.get("state"), moving=pending_action,
            online=online, has_reed_switch="door_open" in door, door_open=door.get("door_open"),
            firmware=door.get("firmware"),
        )  # fmt: skip

    @property
    def lock_state(self) -> str:
        if self.moving and self.state != ("locked" if self.moving == "lock" else "unlocked"):
            return MOVING[self.moving]
        return LOCK.get(self.state or "", UNKNOWN)


def _dump(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def discovery(view: DoorView, topics: Topics) -> dict[str, str]:
    """The retained discovery configs of the door's entities."""
    door = view.id
    device: dict[str, Any] = {
        "identifiers": [node_id(door)], "name": view.name, "manufacturer": "Smart Door", "model": "ESP32 keypad door",
    }  # fmt: skip
    if view.firmware:
        device["sw_version"] = view.firmware
    backend = {"topic": topics.status}
    reachable = {"availability": [backend, {"topic": topics.of_door(door, AVAILABILITY)}], "availability_mode": "all"}
    common = {"device": device, "origin": {"name": "Smart Door", "sw_version": __version__}, "qos": 1}
    configs = {
        topics.config("lock", door, "lock"): {
            **common, **reachable, "name": None, "unique_id": f"{node_id(door)}_lock",
            "state_topic": topics.of_door(door, "lock"), "command_topic": topics.of_door(door, COMMAND),
            "payload_lock": "LOCK", "payload_unlock": "UNLOCK", "state_locked": "LOCKED",
            "state_unlocked": "UNLOCKED", "state_locking": "LOCKING", "state_unlocking": "UNLOCKING",
            "state_jammed": "JAMMED",
        },
        topics.config("sensor", door, "last_opened"): {
            **common, "availability": [backend], "name": "Last opened by", "unique_id": f"{node_id(door)}_last_opened",
            "icon": "mdi:account-key", "state_topic": topics.of_door(door, "last_opened"),
            "json_attributes_topic": topics.of_door(door, "last_opened/attributes"),
        },
        topics.config("binary_sensor", door, "connectivity"): {
            **common, "availability": [backend], "name": "Connectivity", "unique_id": f"{node_id(door)}_connectivity",
            "device_class": "connectivity", "entity_category": "diagnostic",
            "state_topic": topics.of_door(door, "connectivity"),
        },
    }  # fmt: skip
    if view.has_reed_switch:
        configs[topics.config("binary_sensor", door, "door")] = {
            **common, **reachable, "name": "Door", "unique_id": f"{node_id(door)}_door", "device_class": "door",
            "state_topic": topics.of_door(door, "door"),
        }  # fmt: skip
    return {topic: _dump(config) for topic, config in configs.items()}


def states(view: DoorView, last: LastOpened | None, topics: Topics, *, names: bool) -> dict[str, str]:
    """The retained states of the door's entities and its availability."""
    door = view.id
    published = {
        topics.of_door(door, AVAILABILITY): "online" if view.online else "offline",
        topics.of_door(door, "lock"): view.lock_state,
        topics.of_door(door, "connectivity"): ON if view.online else OFF,
    }
    if view.has_reed_switch:
        published[topics.of_door(door, "door")] = UNKNOWN if view.door_open is None else ON if view.door_open else OFF
    if last is not None:  # the attributes first: an automation triggered by the state reads them
        published[topics.of_door(door, "last_opened/attributes")] = _dump(last.attributes(names=names))
        published[topics.of_door(door, "last_opened")] = last.state(names=names)
    return published


def removal(door_id: str, topics: Topics) -> dict[str, str]:
    """Empty retained messages: Home Assistant removes the door's entities, the broker forgets
    its states."""
    configs = {topics.config(component, door_id, object_id): "" for component, object_id, _ in ENTITIES}
    return configs | {topics.of_door(door_id, leaf): "" for leaf in STATE_LEAVES}
