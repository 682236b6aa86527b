"""The nonce ledger stores a reply just after sending it (api.ledger): a resend in that moment
waits for the record in the process that answered, gets 409 in_progress from another, and a
record the database never took leaves the request answered once and never acted on again.

The reply records go through a gate the test opens, on the real database: that is how the
moment between the reply and its record is held open without sleeping."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pymongo.errors import AutoReconnect

from smartdoor.api.ledger import Ledger

REQUEST = "/api/v1/otp/request"
BODY = b'{"action":"unlock"}'


class GatedNonces:
    """The `nonces` collection, with the reply records (update_one) held until the gate opens,
    or failing then when `fail` is set."""

    def __init__(self, collection, gate: asyncio.Event, fail: bool) -> None:
        self._collection, self._gate, self._fail = collection, gate, fail

    def __getattr__(self, name):
        return getattr(self._collection, name)

    async def update_one(self, *args, **kwargs):
        await self._gate.wait()
        if self._fail:
            raise AutoReconnect("the database went away")
        return await self._collection.update_one(*args, **kwargs)


class GatedDatabase:
    def __init__(self, db, gate: asyncio.Event, fail: bool = False) -> None:
        self._db, self.nonces = db, GatedNonces(db.nonces, gate, fail)

    def __getattr__(self, name):
        return getattr(self._db, name)


@pytest.fixture
async def gated(harness):
    """(device, gate, ledger): the app's ledger replaced by one whose reply records wait for `gate`."""
    gate = asyncio.Event()
    ledger = Ledger(GatedDatabase(harness.db, gate), harness.services.background)  # type: ignore[arg-type]
    harness.services.ledger = ledger
    yield await harness.add_door(), gate, ledger
    gate.set()


async def test_the_reply_goes_before_its_record_and_a_resend_here_waits_for_it(harness, gated):
    device, gate, _ = gated
    headers = device.sign("POST", REQUEST, BODY)
    first = await device.post(REQUEST, raw=BODY, headers=headers)
    assert first.status_code == 200  # answered while its record is still held
    nonce = headers["Signature-Input"].split('nonce="')[1].split('"')[0]
    key = f"{device.door_id}:{nonce}"
    assert (await harness.db.nonces.find_one({"_id": key}))["status"] == 0
    resend = asyncio.create_task(device.post(REQUEST, raw=BODY, headers=headers))
    done, _ = await asyncio.wait({resend}, timeout=0.5)
    assert not done, "the resend answered before the original reply was stored"
    gate.set()
    again = await resend
    assert again.status_code == 200 and again.json() == first.json()
    assert (await harness.db.nonces.find_one({"_id": key}))["status"] == 200
    assert len(harness.sink.messages()) == 1
    assert len(await harness.audit(event="code_request")) == 1
    assert len(await harness.audit(event="resent")) == 1


async def test_a_resend_to_another_process_meanwhile_is_told_in_progress_then_gets_the_reply(harness, gated):
    device, gate, first_process = gated
    headers = device.sign("POST", REQUEST, BODY)
    first = await device.post(REQUEST, raw=BODY, headers=headers)
    # another process on the same database: it knows nothing of the first one's pending record
    harness.services.ledger = Ledger(harness.db, harness.services.background)
    early = await device.post(REQUEST, raw=BODY, headers=headers)
    assert early.status_code == 409 and early.json()["error"] == "in_progress"
    assert early.headers["Retry-After"] == "1"
    gate.set()
    await harness.settle()
    late = await device.post(REQUEST, raw=BODY, headers=headers)
    assert late.status_code == 200 and late.json() == first.json()
    assert len(harness.sink.messages()) == 1
    assert [e["reason"] for e in await harness.audit(event="replay")] == ["in_progress"]
    assert first_process is not harness.services.ledger


async def test_a_reply_the_database_never_stored_leaves_the_request_done_once(harness, caplog):
    gate = asyncio.Event()
    harness.services.ledger = Ledger(GatedDatabase(harness.db, gate, fail=True), harness.services.background)  # type: ignore[arg-type]
    device = await harness.add_door()
    headers = device.sign("POST", REQUEST, BODY)
    with caplog.at_level(logging.WARNING):
        first = await device.post(REQUEST, raw=BODY, headers=headers)
        assert first.status_code == 200
        gate.set()
        await harness.settle()
    assert "background work failed: AutoReconnect" in caplog.text
    for _ in range(2):
        r = await device.post(REQUEST, raw=BODY, headers=headers)
        assert r.status_code == 409 and r.json()["error"] == "in_progress"
    assert len(harness.sink.messages()) == 1
    assert len(await harness.audit(event="code_request")) == 1
