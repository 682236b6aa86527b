"""A stopped database: the door's requests get a 503 once DB_OPERATION_TIMEOUT_MS has passed;
a request under /admin (which may read a lot at once) keeps its one longer deadline and is
answered once the database continues. A real embedded database, stopped with SIGSTOP."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from fastapi import APIRouter, Request

from smartdoor.clock import FakeClock
from smartdoor.store import embedded
from tests.conftest import build_settings, running_app

pytestmark = pytest.mark.subprocess

reads = APIRouter()


@reads.get("/admin/t-read")
@reads.get("/t-read")
async def read_a_door(request: Request) -> dict:
    await request.app.state.services.db.doors.find_one({})
    return {"ok": True}


def stop(pid: int) -> None:
    """SIGSTOP, then wait until every thread is stopped: the signal is queued at once but takes
    effect as each thread is next scheduled, and a thread running meanwhile could still answer."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while any((task / "stat").read_text().rsplit(")", 1)[1].split()[0] != "T"
              for task in Path(f"/proc/{pid}/task").iterdir()):  # fmt: skip
        assert time.monotonic() < deadline, "the database did not stop"
        time.sleep(0.01)


async def test_a_stopped_database_answers_the_door_at_once_and_the_admin_when_it_continues(tmp_path, smtp_sink):
    server = await asyncio.to_thread(embedded.start_or_share, tmp_path / "own-db")
    settings = build_settings(server.uri, tmp_path, smtp_sink[0].port, db_operation_timeout_ms=1000)
    try:
        async with running_app(settings, FakeClock(), smtp_sink[1], keep_db=True) as h:
            h.app.include_router(reads)
            assert (await h.http.get("/t-read")).status_code == 200
            stop(server.pid)
            try:
                admin = asyncio.create_task(h.http.get("/admin/t-read", timeout=60))
                door = await h.http.get("/t-read", timeout=60)
                assert door.status_code == 503 and door.headers["retry-after"]
                assert not admin.done()  # still waiting for the database
                await asyncio.sleep(1.5)  # past the door's operation timeout
            finally:
                os.kill(server.pid, signal.SIGCONT)
            assert (await admin).status_code == 200
            assert (await h.http.get("/t-read")).status_code == 200
    finally:
        server.stop()
