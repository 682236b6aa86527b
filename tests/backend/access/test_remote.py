"""Remote lock / unlock: queued by an administrator, handed to the door inside its next signed
state reply, cleared and audited when the door reports it done; refused for unlocking where
the door does not allow it; dropped when too old."""

from __future__ import annotations

import pytest

from smartdoor.doors import service as doors
from smartdoor.errors import Forbidden, InvalidInput, NotFound
from tests.backend.access.site import make_site

STATE = "/api/v1/state"


async def test_a_remote_unlock_round_trip(harness):
    site = await make_site(harness)
    post = site.device.post  # checks every reply's signature
    assert "command" not in (await post(STATE, {"state": "locked", "event": "heartbeat"})).json()
    command = await doors.queue_command(
        harness.db, door_id=site.door_id, action="unlock", by=site.person["_id"], now=harness.clock.now()
    )
    reply = await post(STATE, {"state": "locked", "event": "heartbeat"})
    assert reply.json()["command"] == {"id": command["id"], "action": "unlock"}
    # a lost reply: the identical request gets the identical reply, the command once more
    again = await post(STATE, {"state": "locked", "event": "heartbeat"}, headers=site.device.last_request_headers)
    assert again.content == reply.content
    # delivered until done
    assert (await post(STATE, {"state": "locked", "event": "heartbeat"})).json()["command"]["id"] == command["id"]
    done = await post(STATE, {"state": "unlocked", "event": "remote", "command": command["id"]})
    assert done.status_code == 200 and "command" not in done.json()
    assert (await harness.db.doors.find_one({"_id": site.door_id}))["command"] is None
    assert "command" not in (await post(STATE, {"state": "unlocked", "event": "heartbeat"})).json()
    (event,) = await site.events(event="remote_command")
    assert (event["outcome"], event["action"], event["command"]) == ("success", "unlock", command["id"])
    assert event["actor"] == event["person"] == site.person["_id"]
    # reported twice (e.g. the door did not get the first reply and its report is a new request)
    await post(STATE, {"state": "unlocked", "event": "remote", "command": command["id"]})
    assert (await site.events(event="remote_command"))[-1]["reason"] == "unknown_command"


async def test_a_command_the_door_could_not_carry_out_is_a_failure(harness):
    site = await make_site(harness)
    command = await doors.queue_command(harness.db, door_id=site.door_id, action="lock", by="cli",
                                        now=harness.clock.now())  # fmt: skip
    await site.device.post(STATE, {"state": "jammed", "event": "remote", "command": command["id"]})
    (event,) = await site.events(event="remote_command")
    assert (event["outcome"], event["state"], event["actor"], event["person"]) == ("failure", "jammed", "cli", None)


async def test_remote_unlock_can_be_turned_off(harness):
    site = await make_site(harness)
    queued = await doors.queue_command(harness.db, door_id=site.door_id, action="unlock", by="cli",
                                       now=harness.clock.now())  # fmt: skip
    await doors.update_settings(harness.db, door_id=site.door_id, remote_unlock=False)
    with pytest.raises(Forbidden) as refused:
        await doors.queue_command(harness.db, door_id=site.door_id, action="unlock", by="cli", now=harness.clock.now())
    assert refused.value.reason == "remote_unlock_disabled"
    # the unlock queued before the change is not delivered, but dropped and audited
    assert "command" not in (await site.device.post(STATE, {"state": "locked"})).json()
    (event,) = await site.events(event="remote_command")
    assert (event["outcome"], event["reason"], event["command"]) == ("refused", "remote_unlock_disabled", queued["id"])
    lock = await doors.queue_command(harness.db, door_id=site.door_id, action="lock", by="cli", now=harness.clock.now())
    assert (await site.device.post(STATE, {"state": "unlocked"})).json()["command"]["id"] == lock["id"]


async def test_an_old_command_is_dropped(harness):
    site = await make_site(harness)
    await doors.queue_command(harness.db, door_id=site.door_id, action="unlock", by="cli", now=harness.clock.now())
    harness.clock.advance(harness.settings.remote_command_ttl_seconds)
    assert "command" not in (await site.device.post(STATE, {"state": "locked", "event": "boot"})).json()
    assert (await site.events(event="remote_command"))[0]["reason"] == "expired"


async def test_bad_commands(harness):
    site = await make_site(harness)
    with pytest.raises(InvalidInput):
        await doors.queue_command(harness.db, door_id=site.door_id, action="open", by="cli", now=harness.clock.now())
    with pytest.raises(NotFound):
        await doors.queue_command(harness.db, door_id="dnope", action="lock", by="cli", now=harness.clock.now())
    for bad in ({"state": "locked", "event": "remote", "command": ""}, {"state": "locked", "command": "x" * 33},
                {"state": "locked", "event": "teleport"}):  # fmt: skip
        assert (await site.device.post(STATE, bad)).status_code == 422
