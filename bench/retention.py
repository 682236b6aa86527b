#!/usr/bin/env python
"""Does a long-running installation's database stay bounded? A script, not a test:
`.venv/bin/python bench/retention.py [--days 90 --retention-days 30 --events-per-day 3000]`.

Months of history in minutes, on the real embedded database: the time of the data is simulated
(the embedded database's own TTL sweep is off, as `smartdoor serve` runs it, and the app's
retention sweeper takes `now` as a parameter), the writes and deletes are real. Each simulated
day writes `--events-per-day` audit events made by the app's own code (bench/scale.py's mix:
code requests with their mail and verify, state reports, unlock notices, offline uses, over 50
doors) and a replay-ledger entry for every second event, then runs the retention sweep as the
server would at the end of that day. Each day it records the database folder's size on disk,
the number of audit events, and the longest single delete of the sweep.

Passes when the folder stops growing once the retention period is full: its size over the
last third of the run stays within 10 % of its size when the retention first filled."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pymongo import monitoring

from smartdoor.outbox import records as outbox_records
from smartdoor.store import embedded, retention
from smartdoor.store.database import connect

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import run as bench  # noqa: E402  (bench/run.py: machine facts, folder size)
import scale  # noqa: E402  (bench/scale.py: the audit mix)

START = datetime(2027, 1, 1, tzinfo=UTC)
NONCE_LIFE = timedelta(seconds=660)  # as api.ledger keeps a request's nonce: 2 × skew + 60 s


class DeleteTimer(monitoring.CommandListener):
    """The longest delete command since the last reset: what one step of the sweep held."""

    def __init__(self) -> None:
        self.longest_ms = 0.0

    def started(self, event) -> None:
        pass

    def succeeded(self, event) -> None:
        if event.command_name == "delete":
            self.longest_ms = max(self.longest_ms, event.duration_micros / 1000)

    def failed(self, event) -> None:
        pass


async def simulate(args, storage_uri: str, storage: Path) -> list[dict]:
    timer = DeleteTimer()
    db = connect(  # as the app connects to its embedded database (runtime.open_database)
        storage_uri, db_name="retention_bench", event_listeners=[timer], operation_timeout_ms=60_000, retryWrites=False
    )
    rng = random.Random(args.seed)
    await db.ensure_indexes(audit_retention_days=args.retention_days)
    await outbox_records.ensure_indexes(db)
    doors = [{"_id": f"door-{i}"} for i in range(50)]
    people = [{"_id": f"person-{i}"} for i in range(100)]
    days = []
    try:
        for day in range(args.days):
            start, end = START + timedelta(days=day), START + timedelta(days=day + 1)
            t0 = time.perf_counter()
            for batch in scale.audit_events(
                doors, people, challenges=args.events_per_day // 6, events=args.events_per_day,
                start=start, end=end, rng=rng,
            ):  # fmt: skip
                await db.audit.insert_many(batch)
                nonces = [{"_id": f"{e['door']}:{e['_id']}", "purge_at": e["at"] + NONCE_LIFE} for e in batch[::2]]
                await db.nonces.insert_many([{**n, "sig": "x" * 43, "status": 200} for n in nonces])
            written = time.perf_counter() - t0
            timer.longest_ms = 0.0
            t0 = time.perf_counter()
            swept = await retention.sweep(db, now=end)
            sweep_s = time.perf_counter() - t0
            # a real day is mostly idle; WiredTiger's checkpoints, which make deleted records'
            # space reusable, need a moment without writes to finish
            await asyncio.sleep(args.idle_seconds)
            row = {
                "day": day + 1,
                "audit_events": await db.audit.estimated_document_count(),
                "nonces": await db.nonces.estimated_document_count(),
                "deleted": sum(swept.values()),
                "disk_bytes": bench.folder_bytes(storage),
                "files_mib": bench.files_mib(storage),
                "write_s": round(written, 2),
                "sweep_s": round(sweep_s, 2),
                "longest_delete_ms": round(timer.longest_ms, 1),
            }
            days.append(row)
            bench.log(
                f"day {row['day']:3}: {row['audit_events']:7,} events, {row['nonces']:6,} nonces, "
                f"{row['disk_bytes'] / 2**20:6.1f} MiB, swept {row['deleted']:6,} in {row['sweep_s']:.2f} s "
                f"(longest delete {row['longest_delete_ms']:.0f} ms), wrote the day in {written:.1f} s; "
                f"{row['files_mib']}"
            )
    finally:
        await db.client.drop_database("retention_bench")
        await db.close()
    return days


def verdict(args, days: list[dict]) -> tuple[str, bool]:
    full = next((d for d in days if d["day"] >= args.retention_days + 1), None)
    last_third = days[len(days) * 2 // 3 :]
    if full is None or not last_third:
        return "too short to tell: run more days than the retention", False
    top = max(d["disk_bytes"] for d in last_third)
    growth = top / full["disk_bytes"] - 1
    text = (
        f"retention full on day {full['day']}: {full['disk_bytes'] / 2**20:.1f} MiB; the largest in the last third "
        f"of the run: {top / 2**20:.1f} MiB ({growth * 100:+.1f} %, target ≤ +10 %); "
        f"audit events then {full['audit_events']:,}, at the end {days[-1]['audit_events']:,}; "
        f"longest single delete {max(d['longest_delete_ms'] for d in days):.0f} ms"
    )
    return text, growth <= 0.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--retention-days", type=int, default=30)
    parser.add_argument("--events-per-day", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--idle-seconds", type=float, default=1.0, help="a pause after each simulated day")
    parser.add_argument("--checkpoint-seconds", type=int, default=1, help="the embedded database's checkpoints")
    parser.add_argument("--json", type=Path, help="also write the daily figures to this file")
    args = parser.parse_args()
    machine = bench.machine()
    # WiredTiger reuses the space of deleted records only after a checkpoint, every 60 s of real
    # time; here a day passes in seconds, so a checkpoint every 60 s would see 10-20 days of
    # writes and deletes at once, which no real installation does. One a second, as close to
    # real life as a compressed run gets (a real day has 1,440 checkpoints), unless set.
    os.environ.setdefault("SECANTUS_CHECKPOINT_SECONDS", str(args.checkpoint_seconds))
    with tempfile.TemporaryDirectory(prefix="smartdoor-retention-") as folder:
        server = embedded.start_or_share(Path(folder))
        try:
            days = asyncio.run(simulate(args, server.uri, Path(folder)))
        finally:
            server.stop()
    text, passed = verdict(args, days)
    print(
        f"retention: {args.days} simulated days, retention {args.retention_days} days, "
        f"{args.events_per_day:,} audit events a day\n"
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, {machine['date']}\n"
        f"{text}\n{'PASSED' if passed else 'FAILED'}"
    )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "days": days}, indent=1))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
