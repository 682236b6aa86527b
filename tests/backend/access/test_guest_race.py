"""A guest allowed 2 uses, 30 code requests and verifies at a time spread over two backend
processes on one database: the door opens at most twice, and the grant's count says so. A use
is counted in the same update that uses the code up, and a code is issued only on the door
revision whose count allowed it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from smartdoor.access import service as access
from smartdoor.crypto import code_hash
from smartdoor.doors.service import code_keys, create_door
from smartdoor.people import service as people
from smartdoor.settings import Settings
from smartdoor.store.database import connect
from tests.backend.otp.test_count_first import two_backends  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET_KEY, SignedDevice, code_in

MAX_USES = 2
AT_ONCE = 30
REQUEST = "/api/v1/otp/request"


class _RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.mark.subprocess
async def test_a_guest_opens_at_most_max_uses_times_across_two_backends(two_backends, mongo_uri):  # noqa: F811
    start, _, sink = two_backends
    urls, env = start(max_requests_per_window=100, failures_per_lockout=1000, hard_lockout_failures=1000)
    db = connect(mongo_uri, db_name=env["MONGO_DB"])
    keyring = Settings(_env_file=None, secret_key=TEST_SECRET_KEY).keyring()
    now = datetime.now(UTC)
    door, secret = await create_door(db, keyring, name="Holiday flat", recipients=["owner@example.com"], now=now)
    guest = await people.add_person(db, name="Gus", email="gus@example.com", role="guest", keypad="777", now=now)
    grant = await access.add_grant(
        db, person_id=guest["_id"], door_id=door["_id"], actions=["unlock"], max_uses=MAX_USES, now=now
    )
    clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
    devices = [SignedDevice(c, door["_id"], secret, _RealClock()) for c in clients]

    def ask(i: int):
        return devices[i % 2].post(REQUEST, {"action": "unlock", "person": "777"})

    async def live_code() -> tuple[str, str] | None:
        """The door's live code: the mailed code whose keyed hash is the one stored."""
        record = await db.doors.find_one({"_id": door["_id"]})
        pending = record.get("pending")
        if not pending:
            return None
        keys = code_keys(keyring, record)
        for mail in sink.messages():
            code = code_in(mail)
            if any(code_hash(k, pending["id"], code) == pending["code_hash"] for k in keys):
                return pending["id"], code
        return None

    opened = 0
    try:
        for _ in range(5):  # rounds: 15 requests and 15 verifies of the live code, all at once
            live = await live_code()
            requests = [ask(i) for i in range(AT_ONCE // 2)]  # 5 rounds stay inside the request window
            verifies = [devices[(i + 1) % 2].verify(*live) for i in range(AT_ONCE // 2)] if live else []
            replies = await asyncio.gather(*requests, *verifies)
            asked, verified = replies[: len(requests)], replies[len(requests) :]
            assert {r.status_code for r in asked} <= {200, 403}
            assert {r.status_code for r in verified} <= {200, 403, 404, 410}  # 404: superseded long ago
            opened += sum(r.status_code == 200 for r in verified)
        for i in range(MAX_USES + 1):  # then one at a time, until the grant refuses
            r = await ask(i)
            if r.status_code == 403:
                break
            opened += (await devices[i % 2].verify(*await live_code())).status_code == 200
        assert opened == MAX_USES
        assert (await access.get_grant(db, grant["_id"]))["uses"] == MAX_USES
        successes = await db.audit.count_documents({"event": "verify", "outcome": "success", "person": guest["_id"]})
        assert successes == MAX_USES
        r = await ask(0)
        assert r.status_code == 403 and r.json()["error"] == "not_allowed"
        last = await db.audit.find({"event": "code_request", "outcome": "refused"}).sort("at", -1).limit(1).to_list()
        assert last[0]["reason"] == "uses_exhausted" and last[0]["person"] == guest["_id"]
    finally:
        for c in clients:
            await c.aclose()
        await db.client.drop_database(env["MONGO_DB"])
        await db.close()
