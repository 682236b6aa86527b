"""People and remote commands end to end in CPython over real HTTP: the firmware's own
DoorMachine in the simulator <-> the real backend (uvicorn, embedded DB over a socket, real
grants) <-> the SMTP sink. The machine's millisecond clock is the test's, so no sleeps."""

from __future__ import annotations

from datetime import UTC, datetime

from doorlogic import screens
from doorlogic.statemachine import PERSON, READY, SENT
from smartdoor.access import service as access
from smartdoor.doors import service as doors
from smartdoor.people import service as people
from smartdoor.simulator.device import SimulatedDevice
from smartdoor.simulator.hardware import LOCK_ANGLE, UNLOCK_ANGLE
from tests.conftest import code_in
from tests.simulator.test_simulated_device import Ms, type_code

HEARTBEAT_MS = 30_000  # the simulated door's default, as the firmware's


def door_and_person(backend):
    door_id, secret = backend.add_door()
    person = backend.call(
        people.add_person(backend.db, name="Bob", email="bob@example.com", keypad="4711", now=datetime.now(UTC))
    )
    device = SimulatedDevice(backend.url, door_id, secret)
    ms = Ms()
    device.start(ms())
    return device, ms, person


def press(device, ms, keys: str) -> None:
    for k in keys:
        device.press(k, ms())
    device.tick(ms())  # a call the keys asked for goes out here (blocking, real HTTP)


def events(backend, door_id: str, event: str) -> list[dict]:
    return backend.call(backend.db.audit.find({"door": door_id, "event": event}).sort("at", 1).to_list())


def test_a_number_without_a_grant_is_refused_then_with_one_gets_its_own_code(backend):
    device, ms, bob = door_and_person(backend)
    press(device, ms, "*4711#")
    assert device.lcd.lines == screens.not_allowed() and device.servo.moves == [LOCK_ANGLE]
    assert backend.sink.messages() == []
    (refused,) = [e for e in events(backend, device.door_id, "code_request") if e["outcome"] == "refused"]
    assert (refused["reason"], refused["person"]) == ("no_grant", bob["_id"])

    backend.call(access.add_grant(backend.db, person_id=bob["_id"], door_id=device.door_id, actions=["unlock"],
                                  now=datetime.now(UTC)))  # fmt: skip
    device.tick(ms(3000))
    assert device.machine.state == READY
    press(device, ms, "*4711#")
    assert device.machine.state == SENT, device.machine.last_result
    mail = backend.sink.wait_for(1)[0]
    assert mail["to"] == ["bob@example.com"]  # not the door's recipients
    device.tick(ms(2000))
    type_code(device, ms, code_in(mail))
    assert device.servo.angle == UNLOCK_ANGLE and device.lcd.lines == screens.done("unlock")
    verified = [e for e in events(backend, device.door_id, "verify") if e["outcome"] == "success"]
    assert [e["person"] for e in verified] == [bob["_id"]]


def test_a_door_without_shared_codes_asks_for_the_number(backend):
    device, ms, bob = door_and_person(backend)
    backend.call(doors.update_settings(backend.db, door_id=device.door_id, shared_codes=False))
    backend.call(access.add_grant(backend.db, person_id=bob["_id"], door_id=device.door_id, actions=["lock"],
                                  now=datetime.now(UTC)))  # fmt: skip
    press(device, ms, "##")
    assert device.lcd.lines == screens.number_needed()
    device.tick(ms(3000))
    assert device.machine.state == PERSON and device.lcd.lines == screens.person("")
    press(device, ms, "4711#")
    assert device.machine.state == SENT and backend.sink.wait_for(1)[0]["to"] == ["bob@example.com"]


def test_a_remote_unlock_reaches_the_door_with_its_heartbeat_and_is_confirmed(backend):
    device, ms, bob = door_and_person(backend)
    command = backend.call(doors.queue_command(backend.db, door_id=device.door_id, action="unlock", by=bob["_id"],
                                               now=datetime.now(UTC)))  # fmt: skip
    device.tick(ms(HEARTBEAT_MS))  # the heartbeat's reply carries it; the confirmation goes at once
    assert device.servo.angle == UNLOCK_ANGLE and device.servo.moves == [LOCK_ANGLE, UNLOCK_ANGLE]
    assert device.lcd.lines == screens.done("unlock", "(remote)")
    assert backend.call(doors.get_door(backend.db, device.door_id))["command"] is None
    (done,) = events(backend, device.door_id, "remote_command")
    assert (done["outcome"], done["command"], done["actor"]) == ("success", command["id"], bob["_id"])
    # the next command, soon after: the door now asks every 5 s
    backend.call(doors.queue_command(backend.db, door_id=device.door_id, action="lock", by="cli",
                                     now=datetime.now(UTC)))  # fmt: skip
    device.tick(ms(5000))
    assert device.servo.moves == [LOCK_ANGLE, UNLOCK_ANGLE, LOCK_ANGLE]
    assert [e["outcome"] for e in events(backend, device.door_id, "remote_command")] == ["success", "success"]
