"""A database that stalls for a few seconds (overloaded, or paused by its host) must not make
the backend refuse a right code. A stall longer than pymongo's heartbeat timeout makes the
client interrupt every operation in flight and retry the writes among them, which the database
may already have applied: the code was then used by the request that is told 410 `used` (or
409 `in_progress`). The heartbeat timeout is longer than an operation's own deadline now
(store.database.MONITOR_TIMEOUT_MS), so a stall shorter than that deadline only delays replies.

The real `smartdoor serve` with its embedded database; 20 doors each verify a fresh code while
the database is stopped (SIGSTOP) for 3.5 s, three times."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import httpx
import pytest

from smartdoor.clock import SystemClock
from tests.backend.store.test_supervision import START_TIMEOUT, Serve, add_doors
from tests.conftest import SignedDevice

pytestmark = pytest.mark.subprocess

DOORS = 20
STALL_SECONDS = 3.5  # past the old 2 s heartbeat timeout, inside the 5 s operation deadline
STALLS = 3
VERIFY = "/api/v1/otp/verify"


async def _code(sink, door: int, before: int) -> str:
    for _ in range(400):
        mails = [m for m in sink.messages() if f"door{door}@example.com" in m["to"]]
        if len(mails) > before:
            return re.search(r"Code: (\d+)", mails[0]["text"]).group(1)  # newest first
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code mail for door {door}")


async def test_a_right_code_is_never_refused_because_the_database_stalled(tmp_path, smtp_sink):
    controller, sink = smtp_sink
    serve = Serve(tmp_path, controller.port)
    try:
        await serve.wait_connected(START_TIMEOUT)
        pid = serve.database()["pid"]
        devices = [
            SignedDevice(httpx.AsyncClient(base_url=serve.url, timeout=30), door_id, secret, SystemClock())
            for door_id, secret in await add_doors(serve.data_dir, DOORS)
        ]
        replies: list[tuple[int, str | None]] = []
        for _ in range(STALLS):
            codes = []
            for i, device in enumerate(devices):
                before = sum(f"door{i}@example.com" in m["to"] for m in sink.messages())
                requested = await device.post("/api/v1/otp/request", {"action": "unlock"})
                assert requested.status_code == 200, requested.text
                codes.append((requested.json()["challenge_id"], await _code(sink, i, before)))
            verifies = [
                asyncio.create_task(device.post(VERIFY, {"challenge_id": c, "code": k}, check_reply=False))
                for device, (c, k) in zip(devices, codes, strict=True)
            ]
            await asyncio.sleep(0.05)  # the verifies are on their way to the database
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(STALL_SECONDS)
            os.kill(pid, signal.SIGCONT)
            for reply in await asyncio.gather(*verifies):
                body = reply.json()
                replies.append((reply.status_code, body.get("error")))
        for device in devices:
            await device.http.aclose()
        refused = [r for r in replies if r[0] != 200]
        # a 503 would be honest (the door tries again); a 410 or 409 for the right code is not
        assert not [r for r in refused if r[0] != 503], refused
        assert "Traceback" not in serve.output, serve.output
    finally:
        serve.stop()
