"""Home Assistant over MQTT with real `smartdoor serve` processes and a real mosquitto: two
processes on one database connect one at a time (the lease), the other takes over when the
first stops, and a process that dies leaves its last will (`offline`) behind."""

from __future__ import annotations

import re
import signal

import pytest

from smartdoor.store.database import connect
from tests.backend.integrations.mqtt_broker import HomeAssistant
from tests.backend.server.test_slow_clients import CLEAN_EXIT, ServerProcess, add_door

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def broker_clients(log: str) -> list[tuple[str, str]]:
    """The backend's comings and goings in mosquitto's log, in order: (connected|gone, client id)."""
    found = []
    for line in log.splitlines():
        if m := re.search(r"New client connected from \S+ as (smartdoor-\S+)", line):
            found.append(("connected", m.group(1)))
        elif m := re.search(r"Client (smartdoor-\S+) (?:disconnected|closed its connection)", line):
            found.append(("gone", m.group(1)))
    return found


async def test_one_process_publishes_another_takes_over_and_a_dead_one_leaves_its_will(
    tmp_path, mongo_uri, smtp_sink, mosquitto
):
    env = {"MQTT_URL": mosquitto.url(), "MQTT_REFRESH_SECONDS": "0.5", "MQTT_LEASE_SECONDS": "3"}
    first = ServerProcess(tmp_path, mongo_uri, smtp_sink, **env)
    db = connect(mongo_uri, db_name=first.db_name)
    second = None
    try:
        async with HomeAssistant(mosquitto) as ha:
            await first.wait_ready()
            await ha.wait_value("smartdoor/status", "online")
            second = ServerProcess(tmp_path, mongo_uri, smtp_sink, db_name=first.db_name, **env)
            await second.wait_ready()
            door_id, _ = await add_door(first)
            await ha.wait_for(lambda: ha.latest.get(f"smartdoor/{door_id}/availability"))
            # a lock command is queued once, whichever process sees the door first
            await ha.publish(f"smartdoor/{door_id}/lock/set", "LOCK")
            await ha.wait_value(f"smartdoor/{door_id}/lock", "LOCKING")
            queued = await db.audit.find({"door": door_id, "event": "remote_command"}).to_list()
            assert [(e["reason"], e["actor"]) for e in queued] == [("queued", "home_assistant")]

            # the publishing process stops: it says `offline`, the other takes over and says `online`
            assert first.stop() in CLEAN_EXIT, first.output
            await ha.wait_for(lambda: _status_after_offline(ha))
            await ha.wait_value(f"smartdoor/{door_id}/lock", "LOCKING")  # the same picture from the other process

            # the second process dies without a word: the broker publishes its last will
            second.proc.send_signal(signal.SIGKILL)
            second.proc.wait(30)
            await ha.wait_value("smartdoor/status", "offline")
            assert (await ha.retained())["smartdoor/status"] == "offline"

        comings_and_goings = broker_clients(mosquitto.log())
        (first_id,) = {c for what, c in comings_and_goings[:1]}
        assert [what for what, _ in comings_and_goings] == ["connected", "gone", "connected", "gone"], mosquitto.log()
        assert comings_and_goings[1][1] == first_id and comings_and_goings[2][1] != first_id
    finally:
        for server in (first, second):
            if server is not None and server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait(30)
        await db.db.client.drop_database(first.db_name)
        await db.close()


def _status_after_offline(ha: HomeAssistant) -> bool:
    """The backend's status went `offline` and then `online` again."""
    statuses = [payload for topic, payload, _ in ha.messages if topic == "smartdoor/status"]
    return "offline" in statuses and statuses[-1] == "online" and statuses.index("offline") < len(statuses) - 1
