"""Journaled writes: what the embedded database acknowledged is still there after a SIGKILL.

Writers insert documents and count updates through the app's client (store.database.connect,
journaled by default) while the database process is killed mid-stream; after a restart on the
same DATA_DIR every acknowledged insert is found and every counter holds at least its
acknowledged increments. Without the journal a kill loses the last moments' writes (measured in
bench/RESULTS.md); with it, none."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import pytest
from pymongo.errors import PyMongoError

from smartdoor.store import embedded
from smartdoor.store.database import connect

pytestmark = pytest.mark.subprocess

WRITERS = 8
WRITES_BEFORE_KILL = 400  # acknowledged writes, all writers together, before the kill is sent
MAX_WRITES_PER_WRITER = 2000  # bounds the loop should the kill never land


async def test_acknowledged_writes_survive_a_kill_of_the_database(tmp_path):
    server = await asyncio.to_thread(embedded.start_or_share, tmp_path / "data")
    db = connect(server.uri, db_name="t_durability", operation_timeout_ms=3000)
    inserted: list[str] = []
    increments = dict.fromkeys(range(WRITERS), 0)
    enough = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(MAX_WRITES_PER_WRITER):
            try:
                if i % 2:
                    await db.doors.update_one({"_id": f"counter-{w}"}, {"$inc": {"n": 1}}, upsert=True)
                    increments[w] += 1
                else:
                    await db.append_audit([{"_id": f"{w}-{i}", "event": "t"}])  # the group commit path
                    inserted.append(f"{w}-{i}")
            except PyMongoError:  # the database is gone: what was acknowledged so far is what counts
                return
            if len(inserted) + sum(increments.values()) >= WRITES_BEFORE_KILL:
                enough.set()

    try:
        writers = [asyncio.create_task(writer(w)) for w in range(WRITERS)]
        await asyncio.wait_for(enough.wait(), 120)
        os.kill(server.pid, signal.SIGKILL)  # while the writers are still writing
        await asyncio.gather(*writers)
        assert server.process is not None
        server.process.wait(10)
        server.forget()
    finally:
        await db.close()

    again = await asyncio.to_thread(embedded.start_or_share, tmp_path / "data")
    db = connect(again.uri, db_name="t_durability")
    try:
        stored = {e["_id"] async for e in db.audit.find({}, {"_id": 1})}
        lost = [i for i in inserted if i not in stored]
        assert not lost, f"{len(lost)} of {len(inserted)} acknowledged inserts lost"
        counters = {d["_id"]: d["n"] async for d in db.doors.find({})}
        short = {
            w: (n, counters.get(f"counter-{w}", 0))
            for w, n in increments.items()
            if counters.get(f"counter-{w}", 0) < n
        }
        assert not short, f"acknowledged increments lost (acknowledged, stored): {short}"
        print(f"acknowledged before the kill: {len(inserted)} inserts, {sum(increments.values())} increments")
    finally:
        await db.close()
        with contextlib.suppress(Exception):
            again.stop()
