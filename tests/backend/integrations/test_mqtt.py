"""Home Assistant over MQTT against a real mosquitto (password file, loopback): the exact
discovery configs and states, availability that follows the heartbeat, commands from Home
Assistant queued for the door and audited, Home Assistant's birth, removed doors, a broker
restart, and the broker password in no log line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest

from smartdoor import __version__
from smartdoor.audit.service import query
from smartdoor.doors import service as doors
from smartdoor.simulator.device import SimulatedDevice
from smartdoor.simulator.hardware import LOCK_ANGLE, UNLOCK_ANGLE
from tests.backend.integrations.mqtt_broker import HomeAssistant
from tests.conftest import LiveBackend, build_settings
from tests.simulator.test_people_and_remote import HEARTBEAT_MS
from tests.simulator.test_simulated_device import Ms

STATE = "/api/v1/state"
pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def home(make_harness, mosquitto, **overrides):
    """The app with MQTT on, and Home Assistant listening on the same broker."""
    settings = {"mqtt_url": mosquitto.url(), "mqtt_refresh_seconds": 0.2, **overrides}
    async with HomeAssistant(mosquitto) as ha, make_harness(**settings) as harness:
        await ha.wait_value("smartdoor/status", "online")
        yield harness, ha


def device_block(door_id: str, name: str, firmware: str | None = None) -> dict:
    device = {"identifiers": [f"smartdoor_{door_id}"], "name": name, "manufacturer": "Smart Door",
              "model": "ESP32 keypad door"}  # fmt: skip
    if firmware:
        device["sw_version"] = firmware
    return device


async def test_a_door_as_home_assistant_sees_it(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        door = await harness.add_door("Front door")
        d = door.door_id
        await door.post(STATE, {"state": "locked", "event": "boot", "door_open": False, "firmware": "1.4.0"})
        await ha.wait_value(f"smartdoor/{d}/lock", "LOCKED")
        await ha.wait_value(f"smartdoor/{d}/door", "OFF")
        device = device_block(d, "Front door", "1.4.0")
        origin = {"name": "Smart Door", "sw_version": __version__}
        backend = {"topic": "smartdoor/status"}
        both = [backend, {"topic": f"smartdoor/{d}/availability"}]
        assert ha.config(f"homeassistant/lock/smartdoor_{d}/lock/config") == {
            "name": None, "unique_id": f"smartdoor_{d}_lock", "device": device, "origin": origin, "qos": 1,
            "availability": both, "availability_mode": "all",
            "state_topic": f"smartdoor/{d}/lock", "command_topic": f"smartdoor/{d}/lock/set",
            "payload_lock": "LOCK", "payload_unlock": "UNLOCK", "state_locked": "LOCKED", "state_unlocked": "UNLOCKED",
            "state_locking": "LOCKING", "state_unlocking": "UNLOCKING", "state_jammed": "JAMMED",
        }  # fmt: skip
        assert ha.config(f"homeassistant/sensor/smartdoor_{d}/last_opened/config") == {
            "name": "Last opened by", "unique_id": f"smartdoor_{d}_last_opened", "device": device, "origin": origin,
            "qos": 1, "availability": [backend], "icon": "mdi:account-key",
            "state_topic": f"smartdoor/{d}/last_opened",
            "json_attributes_topic": f"smartdoor/{d}/last_opened/attributes",
        }  # fmt: skip
        assert ha.config(f"homeassistant/binary_sensor/smartdoor_{d}/door/config") == {
            "name": "Door", "unique_id": f"smartdoor_{d}_door", "device": device, "origin": origin, "qos": 1,
            "availability": both, "availability_mode": "all", "device_class": "door",
            "state_topic": f"smartdoor/{d}/door",
        }  # fmt: skip
        assert ha.config(f"homeassistant/binary_sensor/smartdoor_{d}/connectivity/config") == {
            "name": "Connectivity", "unique_id": f"smartdoor_{d}_connectivity", "device": device, "origin": origin,
            "qos": 1, "availability": [backend], "device_class": "connectivity", "entity_category": "diagnostic",
            "state_topic": f"smartdoor/{d}/connectivity",
        }  # fmt: skip
        retained = await ha.retained()
        assert {t: p for t, p in retained.items() if d in t and not t.endswith("/config")} == {
            f"smartdoor/{d}/availability": "online",
            f"smartdoor/{d}/lock": "LOCKED",
            f"smartdoor/{d}/door": "OFF",
            f"smartdoor/{d}/connectivity": "ON",
        }
        assert retained["smartdoor/status"] == "online"

        # the door opens (the reed switch) and is unlocked
        await door.post(STATE, {"state": "unlocked", "event": "exit_button", "door_open": True})
        await ha.wait_value(f"smartdoor/{d}/lock", "UNLOCKED")
        await ha.wait_value(f"smartdoor/{d}/door", "ON")
        await ha.wait_value(f"smartdoor/{d}/last_opened", "exit_button")
        attributes = json.loads(ha.latest[f"smartdoor/{d}/last_opened/attributes"])
        assert attributes == {"how": "exit_button", "person": None, "role": None,
                              "at": harness.clock.now().isoformat()}  # fmt: skip

        # a door without a reed switch has no door sensor
        plain = await harness.add_door("Shed")
        await plain.post(STATE, {"state": "jammed", "event": "boot"})
        await ha.wait_value(f"smartdoor/{plain.door_id}/lock", "JAMMED")
        assert not any(t.startswith(f"homeassistant/binary_sensor/smartdoor_{plain.door_id}/door/") for t in ha.latest)


async def test_availability_follows_the_heartbeat(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        door = await harness.add_door()
        d = door.door_id
        await ha.wait_value(f"smartdoor/{d}/availability", "offline")  # never reported: unavailable
        await ha.wait_value(f"smartdoor/{d}/lock", "None")
        await door.post(STATE, {"state": "unlocked", "event": "boot"})
        await ha.wait_value(f"smartdoor/{d}/availability", "online")
        await ha.wait_value(f"smartdoor/{d}/lock", "UNLOCKED")
        harness.clock.advance(2 * 60)  # reports missed: Home Assistant must not show "unlocked" as news
        await ha.wait_value(f"smartdoor/{d}/availability", "offline")
        await ha.wait_value(f"smartdoor/{d}/connectivity", "OFF")
        await door.post(STATE, {"state": "unlocked", "event": "heartbeat"})  # not audited: found by the refresh
        await ha.wait_value(f"smartdoor/{d}/availability", "online")
        await ha.wait_value(f"smartdoor/{d}/connectivity", "ON")


async def test_a_lock_command_from_home_assistant_reaches_the_door(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        door = await harness.add_door()
        d = door.door_id
        await door.post(STATE, {"state": "unlocked", "event": "boot"})
        await ha.wait_value(f"smartdoor/{d}/lock", "UNLOCKED")

        await ha.publish(f"smartdoor/{d}/lock/set", "LOCK")
        await ha.wait_value(f"smartdoor/{d}/lock", "LOCKING")
        queued = (await harness.db.doors.find_one({"_id": d}))["command"]
        assert (queued["action"], queued["by"]) == ("lock", "home_assistant")
        (event,) = await query(harness.db, door=d, event_name="remote_command")
        assert (event["outcome"], event["reason"], event["actor"], event["client"], event["person"]) == (
            "info", "queued", "home_assistant", "mqtt", None)  # fmt: skip
        await ha.publish(f"smartdoor/{d}/lock/set", "LOCK")  # a double tap queues nothing more
        await handled(ha, d)

        reply = (await door.post(STATE, {"state": "unlocked", "event": "heartbeat"})).json()  # signed, checked
        assert reply["command"] == {"id": queued["id"], "action": "lock"}
        await door.post(STATE, {"state": "locked", "event": "remote", "command": queued["id"]})
        await ha.wait_value(f"smartdoor/{d}/lock", "LOCKED")
        events = await query(harness.db, door=d, event_name="remote_command")
        assert [(e["outcome"], e.get("reason")) for e in events] == [("info", "queued"), ("success", None)]
        assert (events[1]["actor"], events[1]["person"]) == ("home_assistant", None)


async def test_unlocking_from_home_assistant_is_off_unless_allowed(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        door = await harness.add_door()
        d = door.door_id
        await door.post(STATE, {"state": "locked", "event": "boot"})
        await ha.wait_value(f"smartdoor/{d}/lock", "LOCKED")
        await ha.publish(f"smartdoor/{d}/lock/set", "UNLOCK")
        await handled(ha, d)
        (refused,) = await query(harness.db, door=d, event_name="remote_command")
        assert (refused["outcome"], refused["reason"], refused["actor"]) == (
            "refused", "mqtt_unlock_disabled", "home_assistant")  # fmt: skip
        assert (await harness.db.doors.find_one({"_id": d}))["command"] is None
        assert ha.latest[f"smartdoor/{d}/lock"] == "LOCKED"

    async with home(make_harness, mosquitto, mqtt_allow_unlock=True) as (harness, ha):
        door = await harness.add_door()
        d = door.door_id
        await door.post(STATE, {"state": "locked", "event": "boot"})
        await doors.update_settings(harness.db, door_id=d, remote_unlock=False)
        await ha.publish(f"smartdoor/{d}/lock/set", "UNLOCK")
        (refused,) = await _wait_events(harness, d, 1)
        assert (refused["outcome"], refused["reason"]) == ("refused", "remote_unlock_disabled")
        # a retained command is never carried out (it would be again at every reconnect)
        await doors.update_settings(harness.db, door_id=d, remote_unlock=True)
        await ha.publish(f"smartdoor/{d}/lock/set", "UNLOCK", retain=True)
        await ha.publish(f"smartdoor/{d}/lock/set", "OPEN SESAME")
        await ha.publish(f"smartdoor/{d}/lock/set", "UNLOCK")
        await ha.wait_value(f"smartdoor/{d}/lock", "UNLOCKING")
        events = await query(harness.db, door=d, event_name="remote_command")
        assert [(e["outcome"], e["reason"]) for e in events] == [("refused", "remote_unlock_disabled"),
                                                                 ("info", "queued")]  # fmt: skip
        await ha.publish(f"smartdoor/{d}/lock/set", "", retain=True)  # leave the broker clean


async def all_emptied(ha: HomeAssistant, door_id: str) -> None:
    """Waits until every topic of the door that Home Assistant got has been emptied."""
    await ha.wait_for(lambda: not [t for t, payload in ha.latest.items() if door_id in t and payload])


async def handled(ha: HomeAssistant, door_id: str) -> None:
    """Waits until the bridge has handled what Home Assistant sent so far: it reads the broker's
    messages in order, so once it answers a birth message that came after them, they are done."""
    config = f"homeassistant/lock/smartdoor_{door_id}/lock/config"
    before = ha.count(config)
    await ha.publish("homeassistant/status", "online")
    await ha.wait_for(lambda: ha.count(config) > before)


async def _wait_events(harness, door_id: str, n: int) -> list[dict]:
    async with asyncio.timeout(30):
        while len(events := await query(harness.db, door=door_id, event_name="remote_command")) < n:
            await asyncio.sleep(0.05)
    return events


async def test_home_assistant_coming_online_gets_everything_again(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        door = await harness.add_door()
        config = f"homeassistant/lock/smartdoor_{door.door_id}/lock/config"
        await ha.wait_for(lambda: config in ha.latest)
        before = ha.count(config)
        await ha.publish("homeassistant/status", "online")
        await ha.wait_for(lambda: ha.count(config) > before)
        await ha.wait_for(lambda: ha.count(f"smartdoor/{door.door_id}/lock") >= 2)  # states follow the configs


async def test_a_removed_door_leaves_home_assistant(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        gone = await harness.add_door("Old door")
        kept = await harness.add_door("New door")
        await gone.post(STATE, {"state": "locked", "event": "boot", "door_open": False})
        config = f"homeassistant/lock/smartdoor_{gone.door_id}/lock/config"
        await ha.wait_for(lambda: ha.latest.get(config))
        await doors.remove_door(harness.db, door_id=gone.door_id)  # as `smartdoor door remove` does, elsewhere
        await ha.wait_value(config, "")
        await all_emptied(ha, gone.door_id)
        retained = await ha.retained()
        assert not [t for t in retained if gone.door_id in t]
        assert retained[f"homeassistant/lock/smartdoor_{kept.door_id}/lock/config"]


async def test_a_door_removed_while_no_backend_ran_is_removed_at_the_next_start(make_harness, mosquitto):
    async with home(make_harness, mosquitto, keep_db=True) as (harness, ha):
        door = await harness.add_door()
        settings = harness.settings
        await ha.wait_for(lambda: ha.latest.get(f"smartdoor/{door.door_id}/availability"))
    # the same database, no backend running; the door goes (e.g. removed by the CLI meanwhile)
    async with make_harness(keep_db=True, mongo_db=settings.mongo_db) as harness:
        await harness.db.doors.delete_one({"_id": door.door_id})
    async with home(make_harness, mosquitto, mongo_db=settings.mongo_db) as (harness, ha):
        config = f"homeassistant/lock/smartdoor_{door.door_id}/lock/config"
        await ha.wait_value(config, "")  # retained from the first run, then removed
        await all_emptied(ha, door.door_id)
        retained = await ha.retained()
        assert not [t for t in retained if door.door_id in t]


async def test_a_broker_restart_is_survived(make_harness, mosquitto):
    async with home(make_harness, mosquitto) as (harness, ha):
        door = await harness.add_door()
        await door.post(STATE, {"state": "locked", "event": "boot"})
        await ha.wait_value(f"smartdoor/{door.door_id}/lock", "LOCKED")
        mosquitto.stop()
        mosquitto.start()  # no persistence: it has forgotten every retained message
        async with HomeAssistant(mosquitto) as after:
            await after.wait_value("smartdoor/status", "online")
            await after.wait_value(f"smartdoor/{door.door_id}/lock", "LOCKED")
            await after.wait_for(lambda: f"homeassistant/lock/smartdoor_{door.door_id}/lock/config" in after.latest)
            # and commands work again
            await after.publish(f"smartdoor/{door.door_id}/lock/set", "UNLOCK")
            (event,) = await _wait_events(harness, door.door_id, 1)
            assert event["reason"] == "mqtt_unlock_disabled"


async def test_the_broker_password_is_in_no_log_line(make_harness, mosquitto, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_harness(mqtt_url=mosquitto.url(password="wrong-" + mosquitto.password), mqtt_refresh_seconds=0.2):
        async with HomeAssistant(mosquitto) as ha:
            await ha.publish("smartdoor-test/nothing", "x")
        await _until(lambda: any("MQTT broker" in r.getMessage() for r in caplog.records))
    async with home(make_harness, mosquitto) as (harness, ha):
        await harness.add_door()
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "mqtt://127.0.0.1:" in text and "connected to" in text
    assert mosquitto.password not in text and "wrong-" not in text
    assert mosquitto.password not in repr(harness.settings)
    assert mosquitto.password not in str(harness.settings.mqtt_broker)


async def _until(check, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def test_home_assistant_unlocks_and_locks_the_simulated_door(mongo_uri, tmp_path, smtp_sink, mosquitto):
    """The whole way: Home Assistant's command over the broker, the backend (uvicorn, real HTTP),
    the firmware's own DoorMachine in the simulator carrying it out with its heartbeat's signed
    reply and confirming it, and Home Assistant seeing the door's new state and who opened it."""
    controller, sink = smtp_sink
    settings = build_settings(mongo_uri, tmp_path, controller.port, mqtt_url=mosquitto.url(),
                              mqtt_refresh_seconds=0.2, mqtt_allow_unlock=True)  # fmt: skip
    live = LiveBackend(settings, sink)
    live.start()
    try:
        async with HomeAssistant(mosquitto) as ha:
            door_id, secret = live.add_door()
            device = SimulatedDevice(live.url, door_id, secret)
            ms = Ms()
            await asyncio.to_thread(device.start, ms())  # the boot report (blocking HTTP: off the loop)
            await ha.wait_value(f"smartdoor/{door_id}/lock", "LOCKED")
            await ha.wait_value(f"smartdoor/{door_id}/availability", "online")

            await ha.publish(f"smartdoor/{door_id}/lock/set", "UNLOCK")
            await ha.wait_value(f"smartdoor/{door_id}/lock", "UNLOCKING")
            await asyncio.to_thread(device.tick, ms(HEARTBEAT_MS))  # the heartbeat's reply carries the command
            assert device.servo.angle == UNLOCK_ANGLE
            await ha.wait_value(f"smartdoor/{door_id}/lock", "UNLOCKED")
            await ha.wait_value(f"smartdoor/{door_id}/last_opened", "home_assistant")

            await ha.publish(f"smartdoor/{door_id}/lock/set", "LOCK")
            await ha.wait_value(f"smartdoor/{door_id}/lock", "LOCKING")
            await asyncio.to_thread(device.tick, ms(5000))  # soon after a command the door asks every 5 s
            assert device.servo.angle == LOCK_ANGLE
            await ha.wait_value(f"smartdoor/{door_id}/lock", "LOCKED")
        events = live.call(live.db.audit.find({"door": door_id, "event": "remote_command"}).sort("at", 1).to_list())
        assert [(e["outcome"], e.get("action"), e["actor"]) for e in events] == [
            ("info", "unlock", "home_assistant"), ("success", "unlock", "home_assistant"),
            ("info", "lock", "home_assistant"), ("success", "lock", "home_assistant"),
        ]  # fmt: skip
    finally:
        live.stop()
