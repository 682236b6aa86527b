#!/usr/bin/env python
"""What a kill of the embedded database loses, and what journaling costs: `.venv/bin/python bench/durability.py`.

For each mode (journaled writes, the default; and DB_JOURNAL=false) and each run: the embedded
database on a fresh DATA_DIR, WRITERS concurrent writers inserting audit-sized documents
through the app's client for SECONDS, then SIGKILL while they write; after a restart, how many
acknowledged inserts are missing. It also prints the insert rate and latency each mode had
before the kill (one writer alone, then WRITERS at once, and WRITERS through the audit's group
commit). Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pymongo.errors import PyMongoError

from smartdoor.store import embedded
from smartdoor.store.database import connect

WRITERS = 8


def event(i: int) -> dict:
    return {"_id": i, "event": "verify", "outcome": "success", "door": "d" * 32, "action": "unlock", "client": "x"}


async def rate(db, writers: int, n: int, *, grouped: bool) -> tuple[float, float]:
    """inserts/s and median ms per insert, `writers` at once, n inserts in all."""
    latencies: list[float] = []
    base = time.monotonic_ns()

    async def writer(w: int) -> None:
        for i in range(n // writers):
            doc = event(f"{base}-{w}-{i}")  # type: ignore[arg-type]
            t = time.perf_counter()
            if grouped:
                await db.append_audit([doc])
            else:
                await db.audit.insert_one(doc)
            latencies.append((time.perf_counter() - t) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*[writer(w) for w in range(writers)])
    return len(latencies) / (time.perf_counter() - start), statistics.median(latencies)


async def one_run(data_dir: Path, *, journal: bool, seconds: float) -> dict:
    server = await asyncio.to_thread(embedded.start_or_share, data_dir)
    db = connect(server.uri, db_name="bench_durability", journal=journal, operation_timeout_ms=5000)
    out: dict = {}
    acknowledged: list[int] = []
    try:
        out["alone"] = await rate(db, 1, 200, grouped=False)
        out["concurrent"] = await rate(db, WRITERS, 800, grouped=False)
        out["grouped"] = await rate(db, WRITERS, 800, grouped=True)
        await db.audit.delete_many({})
        stop = time.monotonic() + seconds
        counter = iter(range(10**9))

        async def writer() -> None:
            while True:
                i = next(counter)
                try:
                    await db.audit.insert_one(event(i))
                except PyMongoError:
                    return
                acknowledged.append(i)
                if time.monotonic() > stop + 30:  # the kill never came: stop anyway
                    return

        tasks = [asyncio.create_task(writer()) for _ in range(WRITERS)]
        await asyncio.sleep(seconds)
        os.kill(server.pid, signal.SIGKILL)
        await asyncio.gather(*tasks)
        assert server.process is not None
        server.process.wait(10)
        server.forget()
    finally:
        await db.close()
    again = await asyncio.to_thread(embedded.start_or_share, data_dir)
    db = connect(again.uri, db_name="bench_durability")
    try:
        stored = {d["_id"] async for d in db.audit.find({}, {"_id": 1})}
        out["acknowledged"] = len(acknowledged)
        out["lost"] = sum(1 for i in acknowledged if i not in stored)
    finally:
        await db.close()
        again.stop()
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="inserting before the kill")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")
    for run in range(args.runs):
        for journal in (True, False):  # alternately, so both see the same machine
            workdir = Path(tempfile.mkdtemp(prefix="smartdoor-durability-"))
            try:
                r = await one_run(workdir / "data", journal=journal, seconds=args.seconds)
            finally:
                with contextlib.suppress(OSError):
                    shutil.rmtree(workdir)
            mode = "journaled  " if journal else "unjournaled"
            print(
                f"run {run + 1} {mode}: one writer {r['alone'][0]:5.0f}/s ({r['alone'][1]:.1f} ms), "
                f"{WRITERS} writers {r['concurrent'][0]:5.0f}/s ({r['concurrent'][1]:.1f} ms), "
                f"{WRITERS} via group commit {r['grouped'][0]:5.0f}/s ({r['grouped'][1]:.1f} ms); "
                f"kill after {args.seconds:.0f} s: {r['lost']} of {r['acknowledged']} acknowledged inserts lost",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
