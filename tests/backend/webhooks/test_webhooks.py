"""Webhooks end to end: the real app with WEBHOOK_URLS pointing at an HTTP receiver on loopback,
which checks every delivery's signature with the README's example (no project code). Unlocks,
refusals, lockouts and a door falling silent arrive as signed JSON; a receiver that fails gets
the same event again from the outbox, with backoff, until it answers 2xx; the URL and the key are
in no log line and no audit event."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from pydantic import ValidationError

from smartdoor.access.schedule import parse_window
from smartdoor.doors.presence import ONLINE_WITHIN
from smartdoor.outbox import records
from smartdoor.settings import Settings
from smartdoor.webhooks.offline_watch import report_offline_doors
from tests.backend.access.site import make_site
from tests.backend.http_receiver import Receiver
from tests.backend.outbox.relay import step
from tests.backend.webhooks.readme_verifier import verify_smartdoor_webhook
from tests.conftest import TEST_SECRET_KEY, code_in

SECRET = "hook-secret-" + "z" * 24
TOKEN = "t0ken-in-the-query"


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def hooked(make_harness, receiver: Receiver, **kw):
    return make_harness(webhook_urls=receiver.url(f"/smartdoor?key={TOKEN}"), webhook_secret=SECRET, **kw)


def verified(h, receiver: Receiver, count: int) -> list[dict]:
    """The first `count` deliveries' events, each signature checked as a receiver would."""
    url = h.settings.webhook_url_list[0]
    events = []
    for got in receiver.wait_for(count)[:count]:
        event = verify_smartdoor_webhook(SECRET.encode(), url, got.headers, got.body, now=h.clock.now().timestamp())
        assert event is not None, f"a delivery did not verify: {got.headers}"
        events.append(event)
    return events


async def delivered(h, receiver: Receiver, count: int) -> list[dict]:
    await h.settle()  # the tap's work and each first attempt run after the reply
    return await asyncio.to_thread(verified, h, receiver, count)


async def test_unlock_refusal_and_lockout_arrive_signed(make_harness, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    async with hooked(make_harness, receiver) as h:
        site = await make_site(h, timezone="UTC")
        await site.grant(actions=["unlock"], schedule=parse_window("daily 03:00-03:01"))
        refused = await site.ask("4711")  # outside her one minute a day (the clock says 12:00)
        assert refused.status_code == 403
        (refusal,) = await delivered(h, receiver, 1)
        assert refusal["type"] == "refusal" and refusal["details"] == {
            "stage": "code_request", "action": "unlock", "reason": "outside_schedule"}  # fmt: skip
        assert refusal["person"] == {"id": site.person["_id"], "name": "Alice"}
        assert refusal["door"] == {"id": site.door_id, "name": "Front door"}

        reply = (await site.ask()).json()  # the shared code (its recipients by mail)
        code = code_in(h.sink.wait_for(1)[0])
        assert (await site.device.verify(reply["challenge_id"], code)).status_code == 200
        unlock = (await delivered(h, receiver, 2))[1]
        assert unlock["type"] == "unlock" and unlock["details"] == {"how": "code"} and unlock["person"] is None
        assert unlock["at"] == h.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ") and unlock["version"] == 1

        reply = (await site.ask()).json()
        code = code_in(h.sink.wait_for(2)[0])
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(h.settings.failures_per_lockout):
            await site.device.verify(reply["challenge_id"], wrong)
        events = await delivered(h, receiver, 2 + h.settings.failures_per_lockout + 1)
        kinds = [e["type"] for e in events[2:]]
        assert kinds.count("refusal") == h.settings.failures_per_lockout and kinds.count("lockout") == 1
        lockout = next(e for e in events if e["type"] == "lockout")
        assert lockout["details"] == {"failures": 5, "wait_seconds": 30, "hard": False}
        assert len({e["id"] for e in events}) == len(events)
        bodies = b"".join(r.body for r in receiver.received)
        assert code.encode() not in bodies and b"@example.com" not in bodies
        attempts = await h.audit(event="webhook_delivery")
        assert len(attempts) == len(events) and all(a["outcome"] == "success" for a in attempts)
        assert {a["receiver"] for a in attempts} == {"127.0.0.1"}
        trail = repr(await h.audit())
        assert TOKEN not in trail and SECRET not in trail
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and SECRET not in logged


async def test_a_failing_receiver_gets_the_same_event_again_with_backoff(make_harness, receiver):
    async with hooked(make_harness, receiver) as h:
        device = await h.add_door()
        receiver.statuses = [503, 500]  # two failures, then 200
        assert (await device.post("/api/v1/state", {"state": "unlocked", "event": "exit_button"})).status_code == 200
        await h.settle()
        first = verified(h, receiver, 1)[0]
        assert first["type"] == "unlock" and first["details"] == {"how": "exit_button"}
        (record,) = await records.collection(h.db).find().to_list()
        assert record["delivery"] == "webhook" and TOKEN.encode() not in bytes(record["sealed"])
        await step([h], 0.5)  # not due yet (1 s after the first failure)
        assert len(receiver.received) == 1
        await step([h], 0.5)
        await step([h], 2)  # the third attempt, 2 s after the second
        again = await asyncio.to_thread(verified, h, receiver, 3)
        assert again[1] == again[2] == first  # the very same event: a receiver drops repeats by its id
        assert await records.collection(h.db).count_documents({}) == 0
        attempts = [(a["attempt"], a["outcome"], a["reason"]) for a in await h.audit(event="webhook_delivery")]
        assert attempts == [(1, "failure", "webhook delivery failed (HTTP 503)"),
                            (2, "failure", "webhook delivery failed (HTTP 500)"), (3, "success", None)]  # fmt: skip


async def test_a_receiver_down_for_a_day_is_given_up(make_harness, receiver):
    async with hooked(make_harness, receiver) as h:
        device = await h.add_door()
        receiver.statuses = [503] * 100
        await device.post("/api/v1/state", {"state": "unlocked", "event": "exit_button"})
        await h.settle()
        for _ in range(4):
            await step([h], 6 * 3600)  # six hours at a time: one attempt each (at most 10 min apart)
        assert await records.collection(h.db).count_documents({}) == 0
        (dropped,) = await h.audit(event="webhook_dropped")
        assert (dropped["of"], dropped["reason"], dropped["outcome"]) == ("webhook_delivery", "expired", "failure")


async def test_a_door_gone_silent_is_told_once_per_silence(make_harness, receiver):
    async with hooked(make_harness, receiver) as h:
        device = await h.add_door()
        assert (await device.post("/api/v1/state", {"state": "locked", "event": "boot"})).status_code == 200
        last_seen = h.clock.now()
        assert await report_offline_doors(h.db, now=h.clock.now() + ONLINE_WITHIN) == 0  # not yet
        h.clock.advance((ONLINE_WITHIN + timedelta(seconds=1)).total_seconds())
        assert await report_offline_doors(h.db, now=h.clock.now()) == 1
        assert await report_offline_doors(h.db, now=h.clock.now()) == 0  # told already
        (offline,) = await delivered(h, receiver, 1)
        assert offline["type"] == "door_offline" and offline["door"]["id"] == device.door_id
        assert offline["details"] == {"last_seen": last_seen.strftime("%Y-%m-%dT%H:%M:%SZ")}
        await device.post("/api/v1/state", {"state": "locked", "event": "heartbeat"})  # back, then silent again
        h.clock.advance((ONLINE_WITHIN + timedelta(seconds=1)).total_seconds())
        assert await report_offline_doors(h.db, now=h.clock.now()) == 1


def test_webhook_settings_are_refused_without_echoing_them():
    base = {"secret_key": TEST_SECRET_KEY, "webhook_secret": SECRET}
    with pytest.raises(ValidationError) as refused:  # the one line `smartdoor serve` prints is the message
        Settings(_env_file=None, **base, webhook_urls=f"https://ok.example/h, ftp://bad.example/{TOKEN}")
    message = refused.value.errors()[0]["msg"]
    assert "URL number 2" in message and TOKEN not in message
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(_env_file=None, secret_key=TEST_SECRET_KEY, webhook_urls="https://ok.example/h")
    assert Settings(_env_file=None, **base, webhook_urls="https://ok.example").webhook_url_list == [
        "https://ok.example/"
    ]


async def test_a_delivery_to_a_url_no_longer_configured_is_dropped(make_harness, receiver):
    async with hooked(make_harness, receiver, keep_db=True) as h:
        device = await h.add_door()
        receiver.statuses = [503]
        await device.post("/api/v1/state", {"state": "unlocked", "event": "exit_button"})
        await h.settle()
        kept = h.settings.mongo_db
    async with make_harness(mongo_db=kept, keep_db=True) as without:  # webhooks off: left alone, not sent
        await step([without], 5)
        assert await records.collection(without.db).count_documents({"delivery": "webhook"}) == 1
    other = receiver.url("/another-receiver")
    async with make_harness(mongo_db=kept, webhook_urls=other, webhook_secret=SECRET) as later:  # the URL changed
        assert await records.collection(later.db).count_documents({}) == 0  # dropped at start
        (dropped,) = await later.audit(event="webhook_dropped")
        assert (dropped["reason"], dropped["door"]) == ("no longer configured", device.door_id)
        await step([later], 5)
    assert len(receiver.received) == 1  # nothing more went out, to either URL
