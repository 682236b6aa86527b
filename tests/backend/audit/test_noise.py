"""Requests refused before a door is authenticated cost no audit write each: they are counted
per source address and reason and written as one event a minute. Old events are purged by
a TTL index after AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from smartdoor.audit import noise
from smartdoor.audit.noise import UnauthenticatedCounter

REQUEST = "/api/v1/otp/request"


async def test_500_bad_requests_become_one_event_per_source_and_reason(harness):
    device = await harness.add_door()
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app, client=("198.51.100.9", 4000)), base_url="http://door.test"
    )
    sends = [harness.http.post(REQUEST, json={"action": "unlock"}) for _ in range(300)]  # unsigned
    sends += [device.request_code(check_reply=False, key=secrets.token_bytes(32)) for _ in range(150)]  # forged
    sends += [other.post(REQUEST, json={"action": "unlock"}) for _ in range(50)]
    replies = await asyncio.gather(*sends)
    await other.aclose()
    assert {r.status_code for r in replies} == {401}
    assert await harness.audit() == []  # nothing written per request
    harness.clock.advance(61)
    await harness.http.post(REQUEST, json={"action": "unlock"})  # the first refusal after the minute writes
    events = await harness.audit(event="unauthenticated")
    got = {(e["client"], e["reason"], e["door"]): e["count"] for e in events}
    assert got == {
        ("192.0.2.7", "bad_signature", None): 301,
        ("192.0.2.7", "bad_signature", device.door_id): 150,  # a real door's name: an attack on it
        ("198.51.100.9", "bad_signature", None): 50,
    }


async def test_counter_memory_is_bounded(harness, monkeypatch):
    monkeypatch.setattr(noise, "MAX_KEYS", 100)
    MAX_KEYS = noise.MAX_KEYS
    counter = UnauthenticatedCounter()
    now = harness.clock.now()
    for i in range(MAX_KEYS + 500):
        counter.add(client=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", reason="bad_signature", door=None,
                    path=REQUEST, now=now)  # fmt: skip
    assert counter.pending() == MAX_KEYS + 500
    assert await counter.flush(harness.db, now=now) == MAX_KEYS + 1  # the rest under "other sources"
    [other] = await harness.audit(event="unauthenticated", client=None)
    assert other["count"] == 500


async def test_audit_retention_is_a_ttl_index(make_harness):
    async with make_harness(audit_retention_days=30) as h:
        indexes = {ix["name"]: ix async for ix in await h.db.audit.list_indexes()}
        assert indexes["audit_retention"]["expireAfterSeconds"] == 30 * 86400
        await h.db.ensure_indexes(audit_retention_days=730)  # a changed setting replaces the index
        indexes = {ix["name"]: ix async for ix in await h.db.audit.list_indexes()}
        assert indexes["audit_retention"]["expireAfterSeconds"] == 730 * 86400
