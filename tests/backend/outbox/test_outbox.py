"""Mail that is retried, not lost: the outbox over the embedded database and a real SMTP relay on
loopback that refuses connections first (nothing listens on its port) and is then started there
(aiosmtpd). Time is the harness's fake clock: the backends' outboxes retry when it has moved on."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
from datetime import timedelta

import bson
import pytest
from pymongo import monitoring

from smartdoor.crypto import Keyring, Unsealable
from smartdoor.mail.message import UnlockLine, unlock_message
from smartdoor.outbox import records
from smartdoor.outbox.backoff import Retry, retry_delay
from smartdoor.outbox.mail import MAIL, notice_mail
from smartdoor.outbox.service import LEASE_MARGIN_SECONDS, Delivery, Outbox, Parcel
from tests.backend.outbox.relay import Relay, attempts, eventually, refusing_port, step, stored
from tests.conftest import code_in


@pytest.fixture
def relay():
    r = Relay(refusing_port())
    yield r
    r.down()


def code_of(h, record: dict) -> str:
    """The code inside a stored (sealed) mail: only the keyring opens it."""
    return code_in({"text": text_of(records.open_payload(h.settings.keyring(), record))})


def text_of(data: bytes) -> str:
    return email.message_from_bytes(data, policy=email.policy.default).get_body(("plain",)).get_content()


async def test_a_relay_down_for_20_seconds_gets_the_mail_once_before_the_code_expires(make_harness, relay, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_harness(mail_port=relay.port) as h:
        device = await h.add_door(recipients=["alice@example.com"])
        reply = (await device.request_code()).json()
        assert reply["status"] == "partial_success" and reply["reason"].startswith("mail delivery failed")
        (record,) = await stored(h)
        code = code_of(h, record)

        for _ in range(20):  # 20 s of refused connections: the outbox keeps trying, with backoff
            await step([h], 1)
        failed = await attempts(h)
        assert [e["attempt"] for e in failed] == [1, 2, 3, 4, 5]  # at 0, 1, 3, 7 and 15 s
        assert all(e["outcome"] == "failure" and e["challenge"] == reply["challenge_id"] for e in failed)
        assert relay.received() == []

        relay.up()
        for _ in range(16):  # the next attempt is due at most 15 s after the last one
            await step([h], 1)
            if relay.received():
                break
        await eventually(lambda: _empty(h))
        for _ in range(5):  # and nothing more comes, however often the outbox looks
            await step([h], 2)
        (mail,) = relay.received()
        assert mail["to"] == ["alice@example.com"] and code_in(mail) == code
        delivered = [e for e in await attempts(h) if e["outcome"] == "success"]
        assert len(delivered) == 1 and delivered[0]["attempt"] == 6
        # before the code expired, and the code works
        assert (h.clock.now() - record["next_at"]).total_seconds() < reply["expires_in"]
        assert (await device.verify(reply["challenge_id"], code)).json()["status"] == "success"
        trail = str(await h.audit())
    logged = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records)
    for text in (logged, trail):  # the code as a number of its own: not in a log line, not in the audit
        assert not re.search(rf"(?<![0-9]){code}(?![0-9])", text)
    assert "alice@example.com" not in trail


def hanging_outbox(h) -> Outbox:
    """Another backend process's outbox, whose relay never answers (the process dies meanwhile)."""

    async def hangs(payload: bytes) -> str | None:
        await asyncio.Event().wait()
        return None

    hanging = Delivery(deliver=hangs, attempt_seconds=h.settings.mail_timeout_seconds)
    return Outbox(db=h.db, keyring=h.settings.keyring(), deliveries={MAIL: hanging}, clock=h.clock)


async def _empty(h) -> bool:
    return await stored(h) == []


async def test_the_stored_message_is_sealed_bound_to_its_record_and_deleted_when_sent(make_harness, relay):
    async with make_harness(mail_port=relay.port) as h:
        device = await h.add_door(recipients=["alice@example.com"])
        reply = (await device.request_code()).json()
        (record,) = await stored(h)
        code = code_of(h, record)
        raw = bson.encode(record)
        for plain in (code.encode(), b"alice@example.com", b"Code:", b"Front door"):
            assert plain not in raw
        assert record["_id"] == f"code:{reply['challenge_id']}" and record["attempts"] == 1
        # the sealed body opens in its own record only, and only under this SECRET_KEY
        with pytest.raises(Unsealable):
            records.open_payload(h.settings.keyring(), {**record, "_id": "code:another"})
        with pytest.raises(Unsealable):
            records.open_payload(Keyring(b"x" * 32), record)

        relay.up()
        await step([h], 1)
        await eventually(lambda: _empty(h))
        assert len(relay.received()) == 1


async def test_two_backends_racing_the_retries_send_the_mail_exactly_once(make_harness, relay):
    async with (
        make_harness(mail_port=relay.port, keep_db=True) as a,
        make_harness(mail_port=relay.port, mongo_db=a.settings.mongo_db) as b,
    ):
        assert a.services.outbox.owner != b.services.outbox.owner
        device = await a.add_door()
        reply = (await device.request_code()).json()
        assert reply["status"] == "partial_success"
        for _ in range(8):  # both processes, twice each, look for due mail at the same moments
            await step([a, b], 1, racing=True)
        failed = await attempts(a)
        numbers = [e["attempt"] for e in failed]
        assert len(numbers) >= 3 and len(set(numbers)) == len(numbers)  # no attempt made twice

        relay.up()
        for _ in range(16):
            await step([a, b], 1, racing=True)
            if relay.received():
                break
        await eventually(lambda: _empty(a))
        for _ in range(5):
            await step([a, b], 2, racing=True)
        assert len(relay.received()) == 1
        assert [e["outcome"] for e in await attempts(a)].count("success") == 1
        (mail,) = relay.received()
        assert (await device.verify(reply["challenge_id"], code_in(mail))).json()["status"] == "success"


async def test_a_process_that_dies_mid_send_leaves_its_lease_to_run_out(make_harness, relay):
    async with make_harness(mail_port=relay.port) as h:
        device = await h.add_door()
        reply = (await device.request_code()).json()
        assert reply["status"] == "partial_success"
        (record,) = await stored(h)

        doomed = hanging_outbox(h)
        h.clock.advance(1)
        dying = asyncio.create_task(doomed.deliver_due())
        await eventually(lambda: _leased_by(h, doomed.owner))
        dying.cancel()  # it dies holding the lease
        await asyncio.gather(dying, return_exceptions=True)

        relay.up()
        lease = h.settings.mail_timeout_seconds + LEASE_MARGIN_SECONDS
        await step([h], lease - 2)  # the lease still holds: nobody sends
        assert relay.received() == []
        await step([h], 3)  # run out: another process claims it and sends it
        await eventually(lambda: _empty(h))
        (mail,) = relay.received()
        assert code_in(mail) == code_of(h, record)
        numbers = [e["attempt"] for e in await attempts(h)]
        assert numbers == [1, 3]  # the dead process's attempt 2 left no event; its number is not reused
        assert (await device.verify(reply["challenge_id"], code_in(mail))).json()["status"] == "success"


async def _leased_by(h, owner: str) -> bool:
    return any(r["lease_owner"] == owner for r in await stored(h))


async def test_an_undelivered_code_mail_is_dropped_and_audited_when_the_code_expires(make_harness, relay):
    async with make_harness(mail_port=relay.port) as h:
        device = await h.add_door()
        reply = (await device.request_code()).json()
        for _ in range(13):  # past the code's 120 s
            await step([h], 10)
        assert await stored(h) == []
        (dropped,) = await h.audit(event="mail_dropped")
        assert (dropped["outcome"], dropped["reason"], dropped["of"]) == ("failure", "expired", "mail_delivery")
        assert dropped["challenge"] == reply["challenge_id"] and dropped["attempts"] >= 5
        relay.up()
        for _ in range(3):
            await step([h], 15)
        assert relay.received() == []


async def test_the_mail_of_a_code_that_was_superseded_is_dropped_not_sent(make_harness, relay):
    async with make_harness(mail_port=relay.port) as h:
        device = await h.add_door()
        first = (await device.request_code()).json()["challenge_id"]
        second = (await device.request_code()).json()["challenge_id"]
        relay.up()
        for _ in range(3):
            await step([h], 2)
        await eventually(lambda: _empty(h))
        (mail,) = relay.received()
        (dropped,) = await h.audit(event="mail_dropped")
        assert (dropped["challenge"], dropped["reason"], dropped["outcome"]) == (first, "code superseded", "info")
        assert (await device.verify(second, code_in(mail))).json()["status"] == "success"


async def test_a_watcher_notice_waits_out_a_relay_outage(make_harness, relay):
    from tests.backend.access.test_notices import watched_site

    async with make_harness(mail_port=relay.port) as h:
        site, bob = await watched_site(h)
        r = await site.device.post("/api/v1/state", {"state": "unlocked", "event": "exit_button"})
        assert r.status_code == 200
        await h.settle()
        (failed,) = await site.events(event="unlock_notice")
        assert (failed["outcome"], failed["attempt"]) == ("failure", 1)
        relay.up()
        await step([h], 1)
        await eventually(lambda: _empty(h))
        (notice,) = relay.received()
        assert notice["to"] == ["bob@example.com"] and "exit button" in notice["text"]
        assert [(e["outcome"], e["attempt"]) for e in await site.events(event="unlock_notice")] == [
            ("failure", 1), ("success", 2),
        ]  # fmt: skip


class OutboxWrites(monitoring.CommandListener):
    """Every command on the `outbox` collection of the database a test names."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.seen: list[str] = []

    def started(self, event) -> None:
        if event.database_name == self.database and event.command.get(event.command_name) == "outbox":
            self.seen.append(event.command_name)

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


OUTBOX_WRITES = OutboxWrites()
monitoring.register(OUTBOX_WRITES)  # before the apps' clients are made


async def test_a_code_mail_the_relay_takes_at_once_never_reaches_the_database(harness):
    device = await harness.add_door()
    OUTBOX_WRITES.database, OUTBOX_WRITES.seen = harness.settings.mongo_db, []
    assert (await device.request_code()).json()["status"] == "success"
    OUTBOX_WRITES.database = None
    assert OUTBOX_WRITES.seen == [] and await stored(harness) == []  # not even sealed
    (event,) = await harness.audit(event="mail_delivery")
    assert (event["outcome"], event["attempt"]) == ("success", 1)
    assert code_in(harness.sink.wait_for(1)[0])


async def test_a_notice_is_stored_before_its_first_attempt_and_survives_its_process_stopping(make_harness, relay):
    async with make_harness(mail_port=relay.port) as h:
        device = await h.add_door(recipients=["alice@example.com"])
        line = UnlockLine(when="2026-01-01 12:00:00 UTC", how="remote", who=None)
        message = unlock_message(
            sender="door@example.com", to=["bob@example.com"], door_name="Front door", tz_name="UTC", unlocks=[line]
        )
        mail = notice_mail(
            message, kind="unlock_notice", door=device.door_id, now=h.clock.now(), details={"recipients": 1}
        )
        doomed = hanging_outbox(h)  # the relay never answers, and the process stops meanwhile
        first = asyncio.create_task(doomed.post(mail, now=h.clock.now()))
        await eventually(lambda: _leased_by(h, doomed.owner))
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)

        relay.up()
        await step([h], h.settings.mail_timeout_seconds + LEASE_MARGIN_SECONDS + 1)
        await eventually(lambda: _empty(h))
        (notice,) = relay.received()
        assert notice["to"] == ["bob@example.com"] and "unlocked remotely" in notice["text"]
        assert [(e["outcome"], e["attempt"]) for e in await h.audit(event="unlock_notice")] == [("success", 2)]


async def test_without_a_mail_server_nothing_is_stored_to_retry(make_harness):
    async with make_harness(mail_server="") as h:
        device = await h.add_door()
        reply = (await device.request_code()).json()
        assert (reply["status"], reply["reason"]) == ("partial_success", "mail not configured")
        assert await stored(h) == []


def test_backoff_doubles_from_one_second_up_to_its_cap():
    assert [retry_delay(n, cap_seconds=15) for n in range(1, 8)] == [1, 2, 4, 8, 15, 15, 15]
    assert retry_delay(10, cap_seconds=300) == 300 and retry_delay(1000, cap_seconds=300) == 300


async def test_another_delivery_kind_plugs_in_and_a_process_without_it_leaves_its_parcels_alone(harness):
    """A delivery kind of the test's own (a receiver that is down, then up) next to the app's
    mail: the outbox stores, seals, retries and audits it the same way, and the app's process,
    which has mail only, neither claims nor drops it."""
    h = harness
    received: list[bytes] = []
    receiver_up = False

    async def deliver(payload: bytes) -> str | None:
        if not receiver_up:
            return "receiver down"
        received.append(payload)
        return None

    hooks = Outbox(
        db=h.db, keyring=h.settings.keyring(), deliveries={"hook": Delivery(deliver=deliver, attempt_seconds=2)},
        clock=h.clock,
    )  # fmt: skip
    door = (await h.add_door()).door_id

    def parcel(body: bytes, minutes: int) -> Parcel:
        return Parcel(
            delivery="hook", payload=body, door=door, event="hook_delivery", details={"subscriber": 1},
            give_up_at=h.clock.now() + timedelta(minutes=minutes), retry=Retry(cap_seconds=4),
        )  # fmt: skip

    assert await hooks.try_now(parcel(b'{"opened":"front"}', 5), now=h.clock.now()) == "receiver down"
    (record,) = await stored(h)
    assert record["delivery"] == "hook" and b"opened" not in bson.encode(record)
    for _ in range(3):  # the app's own outbox looks, and leaves it alone
        await step([h], 5)
    assert [r["attempts"] for r in await stored(h)] == [1]

    receiver_up = True
    await hooks.deliver_due()
    assert received == [b'{"opened":"front"}'] and await stored(h) == []
    assert [(e["outcome"], e["attempt"], e["subscriber"]) for e in await h.audit(event="hook_delivery")] == [
        ("failure", 1, 1), ("success", 2, 1),
    ]  # fmt: skip

    receiver_up = False
    await hooks.post(parcel(b"late", 1), now=h.clock.now())
    h.clock.advance(61)
    await hooks.deliver_due()
    (dropped,) = await h.audit(event="hook_dropped")
    assert (dropped["reason"], dropped["of"], dropped["attempts"]) == ("expired", "hook_delivery", 1)
    assert await stored(h) == []

    # a process without the kind refuses a new parcel of it at once, and keeps nothing
    assert await h.services.outbox.try_now(parcel(b"x", 5), now=h.clock.now()) == "hook not configured"
    assert await stored(h) == []
