"""A MONGO_URL server that goes away: the real `smartdoor serve` on a database server of its own
(a separately started SecantusDB process standing in for a MongoDB at MONGO_URL) with 50 doors
cycling, while that server is killed, stays away 10 s and is started again on its address.
Meanwhile only 503s with Retry-After, never a 500; the doors get through again once it is back
(pymongo reconnects by itself: nothing in the app restarts); every acknowledged code request
and verify is in the audit and no used code is let in twice."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from smartdoor.clock import SystemClock
from smartdoor.crypto import Keyring
from smartdoor.doors.service import create_door
from smartdoor.store.database import connect
from tests.backend.store.database_server import DatabaseServer
from tests.backend.store.test_supervision import (
    DOORS,
    START_TIMEOUT,
    Load,
    Serve,
    check_nothing_acknowledged_lost,
    check_outage,
)
from tests.conftest import TEST_SECRET_KEY, SignedDevice

pytestmark = pytest.mark.subprocess

AWAY_SECONDS = 10


async def wait_healthy(serve: Serve, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        body = await serve.health()
        if body and body["database"] == "connected":
            return time.monotonic()
        assert serve.proc.poll() is None, "server ended\n" + serve.output
        assert time.monotonic() < deadline, "database not back in time\n" + serve.output
        await asyncio.sleep(0.1)


async def add_doors(uri: str, count: int) -> list[tuple[str, str]]:
    db = connect(uri, db_name="smart_door")
    try:
        made = []
        for i in range(count):
            door, secret = await create_door(
                db,
                Keyring(TEST_SECRET_KEY.encode()),
                name=f"Door {i}",
                recipients=[f"door{i}@example.com"],
                now=datetime.now(UTC),
            )
            made.append((door["_id"], secret))
        return made
    finally:
        await db.close()


async def test_mongo_url_server_goes_away_and_comes_back_under_load(tmp_path, smtp_sink):
    controller, sink = smtp_sink
    database = DatabaseServer(tmp_path / "mongo")
    await database.start()
    serve = Serve(tmp_path / "app", controller.port, MONGO_URL=database.uri, MONGO_DB="smart_door")
    try:
        await wait_healthy(serve, START_TIMEOUT)
        load = Load(serve.url, sink)
        load.devices = [
            SignedDevice(httpx.AsyncClient(base_url=serve.url, timeout=30), door_id, secret, SystemClock())
            for door_id, secret in await add_doors(database.uri, DOORS)
        ]
        doors = [asyncio.create_task(load.door(i)) for i in range(DOORS)]
        started = time.monotonic()
        await load.wait_all_succeed_after(started, 60)

        await load.next_verify_acknowledged()
        gone_at = time.monotonic()
        database.kill()
        await asyncio.sleep(AWAY_SECONDS)
        away = [o for o in load.outcomes if o.at > gone_at + 0.5]  # past the replies already under way
        await database.start()
        back_at = await wait_healthy(serve, 60)
        through_after = await load.wait_all_succeed_after(back_at, 30)

        load.stop.set()
        await asyncio.gather(*doors)
        for device in load.devices:
            await device.http.aclose()
        assert away and all(o.status == 503 for o in away), "requests succeeded while the database was away"
        unavailable = check_outage(load.outcomes, started, time.monotonic())
        assert not load.bad_signatures, load.bad_signatures
        assert "Traceback" not in serve.output, serve.output
        await check_nothing_acknowledged_lost(database.uri, load)
        signed = sum(o.status == 503 and o.signed for o in load.outcomes)
        print(f"back after {back_at - gone_at:.2f} s (away {AWAY_SECONDS} s), every door through "
              f"{through_after:.2f} s later (the first {load.first_through[-1]:.2f} s); "
              f"503s: {unavailable} ({signed} signed), requests: {len(load.outcomes)}, "
              f"acknowledged: {len(load.requested)} code requests, {len(load.verified)} verifies")  # fmt: skip
    finally:
        serve.stop()
        database.stop()
