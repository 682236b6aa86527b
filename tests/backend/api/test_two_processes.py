"""Two backend processes on one database, requests spread over both: every limit is held by the
database, not by a process. The same races as the single-process tests (test_device_flow,
test_limits, test_attacker, otp/test_count_first), now against two real `uvicorn` processes
(tests/backend/otp/counting_app.py: the real app, with each code comparison written to a
shared file), every other request going to the other process:

- 20 verifies of the right code at once: one success;
- concurrent wrong codes with a lockout after 3: 3 comparisons, none while locked out;
- the lockout gate: a locked-out door is refused by both processes (the one that never saw the
  lockout asks the database), every refusal is accounted for in the audit, and a
  `clear-lockout` reaches both; a hard lockout likewise;
- the identical signed request (code request, wrong verify, right verify) sent to both at once
  is acted on once, and a nonce reused on another request is a replay on either;
- 20 code requests at once against a window of 5: five codes.

A guest's maximum of uses over two processes is in access/test_guest_race.py, 30 wrong codes at
once and the original sketch's routes in otp/test_count_first.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from smartdoor.doors.service import clear_lockout, create_door
from smartdoor.settings import Settings
from smartdoor.store.database import Database, connect
from tests.backend.otp.test_count_first import (
    _RealClock,
    comparison_lines,
    two_backends,  # noqa: F401 (a fixture)
    wrong_codes,
)
from tests.conftest import TEST_SECRET_KEY, SignedDevice, code_in

pytestmark = pytest.mark.subprocess

REQUEST = "/api/v1/otp/request"
VERIFY = "/api/v1/otp/verify"


@dataclass
class Pair:
    """One door, seen through both processes: devices[i % 2] spreads requests over them."""

    db: Database
    door_id: str
    devices: list[SignedDevice]
    sink: object
    comparisons: object

    def device(self, i: int) -> SignedDevice:
        return self.devices[i % 2]

    def compared(self) -> list[str]:
        return comparison_lines(self.comparisons)

    async def record(self) -> dict:
        return await self.db.doors.find_one({"_id": self.door_id})

    async def new_code(self, mails_before: int, i: int = 0) -> tuple[str, str]:
        r = await self.device(i).request_code()
        assert r.status_code == 200, r.text
        return r.json()["challenge_id"], code_in(self.sink.wait_for(mails_before + 1)[0])


@pytest.fixture
async def pair(two_backends, mongo_uri):  # noqa: F811
    """Starts the two processes with the given settings and makes a door: `await pair(**settings)`."""
    start, comparisons, sink = two_backends
    async with contextlib.AsyncExitStack() as stack:

        async def make(**settings) -> Pair:
            urls, env = start(**settings)
            db = connect(mongo_uri, db_name=env["MONGO_DB"])

            async def drop() -> None:
                await db.client.drop_database(env["MONGO_DB"])
                await db.close()

            stack.push_async_callback(drop)
            keyring = Settings(_env_file=None, secret_key=TEST_SECRET_KEY).keyring()
            door, secret = await create_door(
                db, keyring, name="Two processes", recipients=["a@example.com"], now=datetime.now(UTC)
            )
            clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=60)) for u in urls]
            devices = [SignedDevice(c, door["_id"], secret, _RealClock()) for c in clients]
            return Pair(db, door["_id"], devices, sink, comparisons)

        yield make


async def test_20_verifies_of_the_right_code_at_once_one_success(pair):
    p = await pair(max_requests_per_window=100)
    for round_no in range(3):
        cid, code = await p.new_code(round_no, i=round_no)
        replies = await asyncio.gather(*(p.device(i).verify(cid, code) for i in range(20)))
        statuses = sorted(r.status_code for r in replies)
        assert statuses.count(200) == 1 and set(statuses) == {200, 410}, statuses
    assert await p.db.audit.count_documents({"event": "verify", "outcome": "success"}) == 3
    # each racing verify was counted as an attempt before it compared: at most 5 per code, all right
    assert 3 <= len(p.compared()) <= 3 * 5 and set(p.compared()) == {"1"}
    assert (await p.record())["failures"] == 0


async def test_concurrent_wrong_codes_no_comparison_while_locked_out(pair):
    """With a lockout after 3 failures, 29 wrong codes and then the right one, all at once over
    both processes: 3 comparisons, all wrong and counted; everything else refused."""
    p = await pair(failures_per_lockout=3, lockout_base_seconds=600)
    cid, right = await p.new_code(0)
    guesses = [*wrong_codes(right, 29), right]
    replies = await asyncio.gather(*(p.device(i).verify(cid, g) for i, g in enumerate(guesses)))
    assert p.compared() == ["0"] * 3
    record = await p.record()
    assert record["failures"] == 3 and record["pending"]["attempts"] == 3
    assert {r.status_code for r in replies} == {403, 429}
    assert sum(r.status_code == 429 for r in replies) == len(guesses) - 2
    assert await p.db.audit.count_documents({"event": "wrong_code"}) == 3


async def _refused_in_audit(db: Database) -> int:
    """Lockout refusals accounted for in the audit: one by one, or counted by a lockout gate."""
    refusals = {"outcome": "refused", "reason": {"$in": ["locked_out", "hard_lockout"]}}
    one_by_one = await db.audit.count_documents({**refusals, "event": {"$in": ["verify", "code_request"]}})
    counted = sum([e["count"] async for e in db.audit.find({"event": "lockout_rejections"})])
    return one_by_one + counted


async def _until_accepted(p: Pair, i: int, *, timeout: float = 30) -> int:
    """Code requests to process i % 2 until one is accepted (a cleared lockout reaches a process
    within about a second); returns how many were refused meanwhile."""
    refused, deadline = 0, time.monotonic() + timeout
    while True:
        r = await p.device(i).request_code()
        if r.status_code == 200:
            return refused
        assert r.status_code == 429 and r.json()["error"] in ("locked_out", "hard_lockout"), r.text
        refused += 1
        assert time.monotonic() < deadline, "the cleared lockout did not reach the process"
        await asyncio.sleep(0.2)


async def test_the_lockout_gate_holds_on_both_processes_and_a_clear_reaches_both(pair):
    p = await pair(lockout_base_seconds=600)
    cid, right = await p.new_code(0)
    wrong = await asyncio.gather(*(p.device(i).verify(cid, g) for i, g in enumerate(wrong_codes(right, 5))))
    assert sorted(r.status_code for r in wrong) == [403] * 4 + [429]  # the fifth starts the lockout
    assert await _refused_in_audit(p.db) == 0
    hammer = [p.device(i).verify(cid, right) for i in range(20)] + [p.device(i).request_code() for i in range(20)]
    replies = await asyncio.gather(*hammer)  # signed replies, checked by SignedDevice
    assert {(r.status_code, r.json()["error"]) for r in replies} == {(429, "locked_out")}
    assert p.compared() == ["0"] * 5  # nothing compared while locked out, the right code included
    record = await p.record()
    assert record["failures"] == 5 and record["pending"]["attempts"] == 5
    await clear_lockout(p.db, door_id=p.door_id)  # as `smartdoor door clear-lockout` does
    refused_meanwhile = await _until_accepted(p, 0) + await _until_accepted(p, 1)
    # each process has audited the refusals it answered from memory by now (at its accepted request)
    assert await _refused_in_audit(p.db) == len(replies) + refused_meanwhile


async def test_a_hard_lockout_holds_on_both_processes(pair):
    p = await pair(failures_per_lockout=1000, hard_lockout_failures=8, lockout_base_seconds=600)
    for n in range(2):  # 10 wrong codes at once, twice: 5 burn the first code, 3 more stop the door
        cid, right = await p.new_code(n, i=n)
        await asyncio.gather(*(p.device(i).verify(cid, g) for i, g in enumerate(wrong_codes(right, 10))))
    assert p.compared() == ["0"] * 8
    record = await p.record()
    assert record["failures"] == 8 and record["hard_locked"]
    replies = await asyncio.gather(*(p.device(i).request_code() for i in range(10)))
    assert {(r.status_code, r.json()["error"]) for r in replies} == {(429, "hard_lockout")}
    assert await p.db.audit.count_documents({"event": "hard_lockout"}) == 1
    await clear_lockout(p.db, door_id=p.door_id)
    await _until_accepted(p, 0)
    await _until_accepted(p, 1)


async def test_an_identical_request_sent_to_both_is_acted_on_once(pair):
    """The nonce ledger (code requests) and a code's replies (verifies) are in the database: the
    same signed bytes sent 10 times at once over both processes do one thing; the copies get
    the original reply or 409 in_progress, and a later copy the original reply."""
    p = await pair()
    body = b'{"action":"unlock"}'
    headers = p.devices[0].sign("POST", REQUEST, body)
    replies = await asyncio.gather(*(p.device(i).post(REQUEST, raw=body, headers=headers) for i in range(10)))
    assert {r.status_code for r in replies} <= {200, 409}
    done = {r.json()["challenge_id"] for r in replies if r.status_code == 200}
    assert len(done) == 1
    cid = done.pop()
    for i in range(2):
        # the process that answered stores its reply just after sending it; the other one says
        # in_progress until then, and the door sends the same request again (as the firmware does)
        again = await p.device(i).post(REQUEST, raw=body, headers=headers)
        for _ in range(50):
            if again.status_code != 409:
                break
            assert again.json()["error"] == "in_progress"
            await asyncio.sleep(0.05)
            again = await p.device(i).post(REQUEST, raw=body, headers=headers)
        assert again.status_code == 200 and again.json()["challenge_id"] == cid
    right = code_in(p.sink.wait_for(1)[0])
    assert len(p.sink.messages()) == 1
    assert await p.db.audit.count_documents({"event": "code_request"}) == 1
    # the same nonce on another request is a replay, whichever process sees it
    nonce = headers["Signature-Input"].split('nonce="')[1].split('"')[0]
    for i in range(2):
        r = await p.device(i).request_code("lock", nonce=nonce)
        assert r.status_code == 401 and r.json()["error"] == "replayed_request"

    async def ten_copies(code: str) -> list[httpx.Response]:
        verify_body = httpx.Request("POST", "/", json={"challenge_id": cid, "code": code}).content
        signed = p.devices[0].sign("POST", VERIFY, verify_body)
        copies = await asyncio.gather(*(p.device(i).post(VERIFY, raw=verify_body, headers=signed) for i in range(10)))
        late = [await p.device(i).post(VERIFY, raw=verify_body, headers=signed) for i in range(2)]
        return [*copies, *late]

    wrong = await ten_copies(wrong_codes(right, 1)[0])
    assert {r.status_code for r in wrong} <= {403, 409}
    assert {r.json()["attempts_left"] for r in wrong if r.status_code == 403} == {4}
    record = await p.record()
    assert record["failures"] == 1 and record["pending"]["attempts"] == 1
    assert p.compared() == ["0"]
    opened = await ten_copies(right)
    assert {r.status_code for r in opened} <= {200, 409} and opened[-1].status_code == 200
    assert {r.json()["action"] for r in opened if r.status_code == 200} == {"unlock"}
    assert await p.db.audit.count_documents({"event": "verify", "outcome": "success"}) == 1
    assert p.compared() == ["0", "1"]


async def test_20_code_requests_at_once_against_a_window_of_5(pair):
    p = await pair(max_requests_per_window=5)
    replies = await asyncio.gather(*(p.device(i).request_code() for i in range(20)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * 5 + [429] * 15, statuses
    assert {r.json()["error"] for r in replies if r.status_code == 429} == {"rate_limited"}
    assert len((await p.record())["recent_requests"]) == 5
    assert await p.db.audit.count_documents({"event": "code_request", "outcome": "success"}) == 5
    p.sink.wait_for(5)
    for i in range(2):
        r = await p.device(i).request_code()
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert len(p.sink.messages()) == 5
