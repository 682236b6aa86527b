"""Watchers are mailed when their door unlocks (who, when by the door's clock, how) and when it
locks out, after the door has its reply; the notice never holds a code. Real SMTP servers on
loopback (aiosmtpd)."""

from __future__ import annotations

import re
import socket
import threading

from aiosmtpd.controller import Controller

from smartdoor.doors import offline
from smartdoor.doors import service as doors
from smartdoor.mail.sink import MailSink
from tests.backend.access.site import make_site
from tests.conftest import code_in


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def watched_site(h):
    site = await make_site(h)
    bob = await site.add_person("Bob", "200")
    await doors.update_settings(h.db, door_id=site.door_id, watchers=[bob["_id"]])
    await site.grant(actions=["lock", "unlock"])
    return site, bob


def notices(sink) -> list[dict]:
    return [m for m in sink.messages() if "unlocked" in m["subject"] or "locked out" in m["subject"]]


async def test_an_unlock_by_code_tells_the_watchers_who_when_and_how(harness):
    site, bob = await watched_site(harness)
    cid = (await site.ask("4711")).json()["challenge_id"]
    code = code_in(harness.sink.wait_for(1)[0])
    assert (await site.device.verify(cid, code)).status_code == 200
    await harness.settle()
    notice = harness.sink.wait_for(2)[0]
    assert notice["to"] == ["bob@example.com"] and notice["subject"] == "Smart Door: Front door unlocked by Alice"
    # the door is in Berlin: 12:00 UTC is 13:00 CET
    assert "2037-01-01 13:00:00 CET: unlocked with a code by Alice" in notice["text"]
    assert "Europe/Berlin" in notice["text"]
    assert code not in notice["text"] and code not in notice["html"]
    assert not re.search(r"\b\d{6}\b", notice["text"])  # no code at all, not even another one
    (event,) = await site.events(event="unlock_notice")
    assert (event["outcome"], event["person"], event["recipients"]) == ("success", site.person["_id"], 1)


async def test_a_lock_by_code_and_an_unwatched_door_send_nothing(harness):
    site, bob = await watched_site(harness)
    cid = (await site.ask("4711", action="lock")).json()["challenge_id"]
    assert (await site.device.verify(cid, code_in(harness.sink.wait_for(1)[0]))).status_code == 200
    await doors.update_settings(harness.db, door_id=site.door_id, watchers=[])
    cid = (await site.ask("4711")).json()["challenge_id"]
    assert (await site.device.verify(cid, code_in(harness.sink.wait_for(2)[0]))).status_code == 200
    await harness.settle()
    assert notices(harness.sink) == [] and await site.events(event="unlock_notice") == []


async def test_exit_button_offline_code_and_remote_unlocks_are_told(harness):
    site, bob = await watched_site(harness)
    post = site.device.post
    assert (await post("/api/v1/state", {"state": "unlocked", "event": "exit_button"})).status_code == 200
    await harness.settle()
    assert "unlocked with the exit button, from inside" in harness.sink.wait_for(1)[0]["text"]

    credential, _ = await offline.enroll(
        harness.db, harness.settings.keyring(), door_id=site.door_id, label="Alice's phone",
        now=harness.clock.now(), person=site.person["_id"],
    )  # fmt: skip
    at = int(harness.clock.now().timestamp()) - 3600
    uses = [{"credential": credential["id"], "step": at // 30, "at": at, "action": "unlock"},
            {"credential": credential["id"], "step": at // 30 + 2, "at": at + 60, "action": "lock"}]  # fmt: skip
    assert (await post("/api/v1/offline/uses", {"uses": uses})).json()["accepted"] == 2
    await harness.settle()
    text = harness.sink.wait_for(2)[0]["text"]
    assert "2037-01-01 12:00:00 CET: unlocked with an offline code" in text and "by Alice (Alice's phone)" in text
    used = (await site.events(event="offline_use"))[0]
    assert used["person"] == site.person["_id"] and used["label"] == "Alice's phone"

    command = await doors.queue_command(harness.db, door_id=site.door_id, action="unlock", by="cli",
                                        now=harness.clock.now())  # fmt: skip
    await post("/api/v1/state", {"state": "locked", "event": "heartbeat"})
    await post("/api/v1/state", {"state": "unlocked", "event": "remote", "command": command["id"]})
    await harness.settle()
    assert "unlocked remotely by an administrator (command line)" in harness.sink.wait_for(3)[0]["text"]
    assert len(await site.events(event="unlock_notice", outcome="success")) == 3


async def test_a_lockout_notice_goes_to_recipients_and_watchers(make_harness):
    async with make_harness(failures_per_lockout=2) as h:
        site, bob = await watched_site(h)
        cid = (await site.ask()).json()["challenge_id"]  # a shared code: to shared@example.com
        code = code_in(h.sink.wait_for(1)[0])
        for _ in range(2):
            await site.device.verify(cid, wrong(code))
        await h.settle()
        notice = h.sink.wait_for(2)[0]
        assert "locked out" in notice["subject"] and sorted(notice["to"]) == ["bob@example.com", "shared@example.com"]
        assert code not in notice["text"]
        (event,) = await site.events(event="lockout_notice")
        assert event["outcome"] == "success" and event["recipients"] == 2


class HeldNotices(MailSink):
    """A relay that takes code mails at once but holds every notice until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.holding = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if b"unlocked" in envelope.content.split(b"\r\n\r\n")[0]:
            self.holding.set()
            self.release.wait(30)  # blocks the relay's own thread, as a stuck relay would
        return await super().handle_DATA(server, session, envelope)


async def test_a_slow_relay_does_not_hold_up_the_door_s_reply(make_harness):
    held = HeldNotices()
    with socket.socket() as probe:  # aiosmtpd cannot bind port 0 itself
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = Controller(held, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        async with make_harness(mail_port=relay.port) as h:
            site, bob = await watched_site(h)
            cid = (await site.ask("4711")).json()["challenge_id"]
            code = code_in(held.wait_for(1)[0])
            reply = await site.device.verify(cid, code)
            # the door has its reply; the notice is still stuck in the relay (or not yet sent)
            assert reply.status_code == 200 and not held.release.is_set()
            assert await site.events(event="unlock_notice") == []
            held.release.set()
            await h.settle()
            assert held.wait_for(2)[0]["to"] == ["bob@example.com"]
            assert (await site.events(event="unlock_notice"))[0]["outcome"] == "success"
    finally:
        held.release.set()
        relay.stop()
