#!/usr/bin/env python
"""Smart Door benchmark. A script, not a test: `.venv/bin/python bench/run.py`.

One run starts the embedded database (or uses MONGO_URL), an SMTP sink and the real server
(uvicorn as `smartdoor serve` builds it, one worker, log level warning, in a separate process,
on loopback), then measures:
  1. the ceiling: a trivial route's req/s on the same server at 50 connections;
  2. signed verify req/s and p50/p99 latency with 50 doors verifying at once;
  3. 429 rejections req/s while a door is locked out (fresh nonce each), against the ceiling;
  4. one client alone: a code request's p50, a verify's p50 and full request+mail+verify cycles/s;
  5. database round trips per successful verify and per code request (pymongo command monitoring,
     app in-process), with each command's time in the database;
  6. the server's RSS;
and prints them in one table with the targets and the machine. Everything stops by itself.
See bench/RESULTS.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pymongo import monitoring

from doorlogic import httpsig
from smartdoor.crypto import Keyring
from smartdoor.doors.service import create_door
from smartdoor.mail.sink import start_sink
from smartdoor.main import create_app
from smartdoor.settings import Settings
from smartdoor.store import embedded
from smartdoor.store.database import connect

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CONCURRENCY = 50
ONE_CLIENT_CYCLES = 60  # of one door of its own: fewer than the 100 codes per window of the bench settings
REQUEST_PATH = "/api/v1/otp/request"
VERIFY_PATH = "/api/v1/otp/verify"
# the bench server may hand out more than 5 codes per door per 15 min (the maximum the settings
# allow is 100), and a lockout lasts long enough to be measured on a loaded machine
BENCH_OVERRIDES = {"MAX_REQUESTS_PER_WINDOW": "100", "LOCKOUT_BASE_SECONDS": "600"}
TICK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- a lean HTTP/1.1 client
# At 50 concurrent requests httpx's pool costs ~100x more client CPU per request than this
# (encode/httpx#3215); on a 2-core machine the client shares the CPU with the server and the
# database, so every phase uses this client (the ceiling once with httpx too, for comparison).

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class Conn:
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, port)

    async def roundtrip(self, data: bytes, *, want_headers: bool = False) -> tuple[int, dict, bytes]:
        """(status, headers, body); status 0 when the server closed the connection instead of
        answering (its deadlines on a loaded machine): the connection is opened again for the next."""
        try:
            return await self._roundtrip(data, want_headers=want_headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.writer.close()
            fresh = await Conn.open(self.port)
            self.reader, self.writer = fresh.reader, fresh.writer
            return 0, {}, b""

    async def _roundtrip(self, data: bytes, *, want_headers: bool) -> tuple[int, dict, bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        m = _CONTENT_LENGTH.search(head)
        body = await self.reader.readexactly(int(m.group(1))) if m else b""
        headers: dict = {}
        if want_headers:
            for line in head.decode("latin-1").split("\r\n")[1:]:
                if line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
        return status, headers, body

    def close(self) -> None:
        self.writer.close()


async def open_pool(port: int, n: int = CONCURRENCY) -> list[Conn]:
    return list(await asyncio.gather(*(Conn.open(port) for _ in range(n))))


def close_pool(pool: list[Conn]) -> None:
    for c in pool:
        c.close()


@dataclass
class Door:
    id: str
    key: bytes
    name: str
    recipient: str
    challenge: str | None = None
    code: str | None = None


def signed_post(door: Door, path: str, payload: dict, port: int) -> tuple[bytes, str]:
    """The bytes of one signed request, exactly as the firmware signs (same httpsig module),
    and its Signature header (the reply must be bound to it)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    signed = httpsig.sign_request(door.key, door.id, "POST", path, body, int(time.time()), secrets.token_hex(16))
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in signed.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body, signed["Signature"]


def reply_ok(door: Door, status: int, headers: dict, body: bytes, request_signature: str) -> bool:
    return httpsig.verify_reply(door.key, door.id, status, headers, body, request_signature)


# ---------------------------------------------------------------- CPU accounting per process


def _proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _busy_ticks() -> int:
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal


class CpuMeter:
    """Cores used by each of our processes during a phase, and by everything else on the machine."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {k: v for k, v in pids.items() if v}

    def snap(self):
        return time.monotonic(), {k: _proc_ticks(p) for k, p in self.pids.items()}, _busy_ticks()

    def since(self, start) -> dict[str, float]:
        t0, p0, b0 = start
        t1, p1, b1 = self.snap()
        wall = max(t1 - t0, 1e-9)
        used = {k: (p1[k] - p0[k]) / TICK / wall for k in p1}
        used["other"] = max(0.0, (b1 - b0) / TICK / wall - sum(used.values()))
        return used


def rss_kib(pid: int | None) -> tuple[int, int] | None:
    if not pid:
        return None
    try:
        import psutil  # optional

        info = psutil.Process(pid).memory_info()
        return info.rss // 1024, getattr(info, "peak_wset", 0) // 1024 or _status_kib(pid, "VmHWM")
    except ImportError:
        return _status_kib(pid, "VmRSS"), _status_kib(pid, "VmHWM")


def folder_bytes(folder: Path) -> int:
    """What the files under folder take on disk (allocated blocks: WiredTiger reuses freed space)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_blocks * 512
        except OSError:  # a journal file removed while we look
            continue
    return total


def files_mib(folder: Path) -> dict[str, float]:
    """The database's folder by kind of file, MiB on disk: documents, index entries, the operation
    log, the journal (WiredTigerLog), the rest."""
    kinds: dict[str, float] = {}
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                name = path.name
                kind = next(
                    (k for k in ("documents", "index", "oplog", "natural", "WiredTigerLog") if k in name), "other"
                )
                kinds[kind] = kinds.get(kind, 0) + path.stat().st_blocks * 512 / 2**20
        except OSError:  # a journal file removed while we look
            continue
    return {k: round(v, 1) for k, v in sorted(kinds.items())}


def _status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- the measured phases


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


async def timed_load(pool: list[Conn], make, seconds: float, check) -> dict:
    """Each connection sends make() back to back until `seconds` are over."""
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    bad = 0
    stop = time.perf_counter() + seconds

    async def worker(conn: Conn) -> None:
        nonlocal bad
        while time.perf_counter() < stop:
            data, ctx = make()
            t = time.perf_counter()
            status, headers, body = await conn.roundtrip(data, want_headers=check is not None)
            latencies.append(time.perf_counter() - t)
            statuses[status] += 1
            if check is not None and not check(status, headers, body, ctx):
                bad += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in pool))
    elapsed = time.perf_counter() - t0
    n = sum(statuses.values())
    return {
        "requests": n,
        "seconds": elapsed,
        "rps": n / elapsed,
        "statuses": dict(statuses),
        "bad": bad,
        "p50_ms": pct(latencies, 50) * 1e3,
        "p99_ms": pct(latencies, 99) * 1e3,
    }


async def ceiling(port: int, seconds: float, meter: CpuMeter) -> dict:
    ping = f"GET /bench/ping HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    pool = await open_pool(port)
    try:
        await timed_load(pool, lambda: (ping, None), 1.0, None)  # warm-up
        start = meter.snap()
        result = await timed_load(pool, lambda: (ping, None), seconds, None)
        result["cpu"] = meter.since(start)
    finally:
        close_pool(pool)
    return result


async def ceiling_httpx(port: int, seconds: float, meter: CpuMeter) -> dict:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits) as http:
        n = 0
        stop = time.perf_counter() + seconds

        async def worker():
            nonlocal n
            while time.perf_counter() < stop:
                r = await http.get("/bench/ping")
                n += r.status_code == 200

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))  # warm-up: connections
        start = meter.snap()
        n, t0, stop = 0, time.perf_counter(), time.perf_counter() + seconds
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - t0
    return {"requests": n, "seconds": elapsed, "rps": n / elapsed, "cpu": meter.since(start)}


def codes_from_sink(sink, doors: list[Door], since: datetime) -> None:
    """Each door's newest code mailed since `since` ("Code: NNNNNN" in the text part)."""
    by_rcpt = {d.recipient: d for d in doors}
    found: set[str] = set()
    for mail in sink.messages():  # newest first
        if mail["received_at"] < since:
            break
        for rcpt in mail["to"]:
            if rcpt in by_rcpt and rcpt not in found:
                found.add(rcpt)
                by_rcpt[rcpt].code = re.search(r"Code: (\d+)", mail["text"]).group(1)
    missing = [d.name for d in doors if d.recipient not in found]
    if missing:
        raise RuntimeError(f"no code mail for {len(missing)} doors, e.g. {missing[:3]}")


SETUP_TRIES = 5  # a code request is set-up, not measured: on a loaded machine it may be asked again


async def request_codes(pool: list[Conn], doors: list[Door], port: int, sink) -> None:
    since = datetime.now(UTC)
    left = list(doors)
    for attempt in range(SETUP_TRIES):
        reqs = [signed_post(d, REQUEST_PATH, {"action": "unlock"}, port) for d in left]
        replies = await asyncio.gather(*(c.roundtrip(r[0], want_headers=True) for c, r in zip(pool, reqs)))
        failed = []
        for d, (_data, sig), (status, headers, body) in zip(left, reqs, replies):
            if status == 200 and not reply_ok(d, status, headers, body, sig):
                raise RuntimeError(f"code request for {d.name}: a reply whose signature does not verify")
            reply = json.loads(body) if status == 200 else {}
            if reply.get("status") != "success":  # a 503 or a mail that timed out under load
                if attempt == SETUP_TRIES - 1:
                    raise RuntimeError(f"code request for {d.name}: HTTP {status} {body[:200]!r}")
                failed.append(d)
                continue
            d.challenge = reply["challenge_id"]
        if not failed:
            break
        log(f"    {len(failed)} code requests failed under load, asking again")
        await asyncio.sleep(1)
        left = failed
    # the server sends the mail before it replies, so every code is in the sink by now
    codes_from_sink(sink, doors, since)


async def verify_bursts(port: int, doors: list[Door], sink, rounds: int, meter: CpuMeter) -> dict:
    """Each round: every door asks for a code (not timed), then all doors verify at once on
    their own connections (timed). Only the verify halves are counted."""
    pool = await open_pool(port, len(doors))
    latencies: list[float] = []
    per_round: list[float] = []
    verify_time = 0.0
    failures: collections.Counter = collections.Counter()
    cpu_acc: collections.Counter = collections.Counter()
    t_all = time.perf_counter()
    try:
        for _ in range(rounds):
            await request_codes(pool, doors, port, sink)
            reqs = [signed_post(d, VERIFY_PATH, {"challenge_id": d.challenge, "code": d.code}, port) for d in doors]

            async def one(conn: Conn, door: Door, data: bytes, sig: str) -> None:
                t = time.perf_counter()
                status, headers, body = await conn.roundtrip(data, want_headers=True)
                latencies.append(time.perf_counter() - t)
                if (
                    status != 200
                    or not reply_ok(door, status, headers, body, sig)
                    or json.loads(body).get("status") != "success"
                ):
                    failures[status] += 1

            start = meter.snap()
            t0 = time.perf_counter()
            await asyncio.gather(*(one(c, d, *r) for c, d, r in zip(pool, doors, reqs)))
            dt = time.perf_counter() - t0
            verify_time += dt
            per_round.append(len(doors) / dt)
            for k, v in meter.since(start).items():
                cpu_acc[k] += v * dt
    finally:
        close_pool(pool)
    n = len(latencies)
    return {
        "verifies": n,
        "failures": dict(failures),
        "verify_seconds": verify_time,
        "rps": n / verify_time,
        "p50_ms": pct(latencies, 50) * 1e3,
        "p99_ms": pct(latencies, 99) * 1e3,
        "max_ms": max(latencies) * 1e3,
        "first_round_rps": per_round[0],
        "last_round_rps": per_round[-1],
        "cycles_per_s": n / (time.perf_counter() - t_all),
        "cpu": {k: v / verify_time for k, v in cpu_acc.items()},
    }


async def single_door_latency(port: int, door: Door, sink, n: int) -> dict:
    """One door alone: its verify latency when nothing else runs (the service time)."""
    pool = await open_pool(port, 1)
    lat = []
    try:
        for _ in range(n):
            await request_codes(pool, [door], port, sink)
            data, sig = signed_post(door, VERIFY_PATH, {"challenge_id": door.challenge, "code": door.code}, port)
            t = time.perf_counter()
            status, headers, body = await pool[0].roundtrip(data, want_headers=True)
            lat.append(time.perf_counter() - t)
            assert status == 200 and reply_ok(door, status, headers, body, sig), (status, body)
    finally:
        close_pool(pool)
    return {"n": n, "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3}


async def one_client(port: int, door: Door, sink, n: int, meter: CpuMeter) -> dict:
    """One client, one door, one connection: request a code, read it from the mail, type it, n
    times in a row. A code request's and a verify's latency, and the cycles per second (the
    mail's trip through the sink and the client's own work included)."""
    pool = await open_pool(port, 1)
    requests, verifies = [], []
    try:
        for _ in range(3):  # warm-up: connection, first-use imports and caches in the server
            await request_codes(pool, [door], port, sink)
        start = meter.snap()
        t_all = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            await request_codes(pool, [door], port, sink)
            requests.append(time.perf_counter() - t)  # includes reading the mail out of the sink (~0.1 ms)
            data, sig = signed_post(door, VERIFY_PATH, {"challenge_id": door.challenge, "code": door.code}, port)
            t = time.perf_counter()
            status, headers, body = await pool[0].roundtrip(data, want_headers=True)
            verifies.append(time.perf_counter() - t)
            assert status == 200 and reply_ok(door, status, headers, body, sig), (status, body)
        elapsed = time.perf_counter() - t_all
        cpu = meter.since(start)
    finally:
        close_pool(pool)
    return {
        "n": n,
        "request_p50_ms": pct(requests, 50) * 1e3,
        "request_p99_ms": pct(requests, 99) * 1e3,
        "verify_p50_ms": pct(verifies, 50) * 1e3,
        "cycles_per_s": n / elapsed,
        "cpu": cpu,
    }


async def one_client_runs(runs: int, port: int, doors: list[Door], sink, meter: CpuMeter, results: dict) -> None:
    """--one-client N: only the one-client phase, N times on N doors of their own (a door's
    request window holds 100 codes), for comparing versions quickly on a machine that is not quiet."""
    results["one_client_runs"] = []
    for i, door in enumerate(doors[:runs]):
        log(f"one client, run {i + 1}/{runs}: {ONE_CLIENT_CYCLES} request+mail+verify cycles")
        result = await one_client(port, door, sink, ONE_CLIENT_CYCLES, meter)
        results["one_client_runs"].append(result)
        log(
            f"    request p50 {result['request_p50_ms']:.1f} ms, verify p50 {result['verify_p50_ms']:.1f} ms, "
            f"{result['cycles_per_s']:.1f} cycles/s; cores: {fmt_cpu(result['cpu'])}"
        )


def one_client_report(r: dict) -> str:
    runs = r["one_client_runs"]
    lines = ["run  request p50  request p99  verify p50  cycles/s  cores used (server, db, bench, other)"]
    for i, x in enumerate(runs, 1):
        lines.append(
            f"{i:>3}  {x['request_p50_ms']:8.1f} ms  {x['request_p99_ms']:8.1f} ms  {x['verify_p50_ms']:7.1f} ms"
            f"  {x['cycles_per_s']:8.1f}  {fmt_cpu(x['cpu'])}"
        )
    mid = sorted(runs, key=lambda x: x["request_p50_ms"])[len(runs) // 2]
    m = r["machine"]
    lines += [
        f"median run: code request p50 {mid['request_p50_ms']:.1f} ms (target <= 15 ms), "
        f"{mid['cycles_per_s']:.1f} cycles/s",
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}, {m['date']}, "
        f"load average before the run {m['loadavg_before']:.2f}; database: {r['database']}",
    ]
    return "\n".join(lines)


def wrong_code(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


async def lockout_load(port: int, door: Door, sink, seconds: float, meter: CpuMeter) -> dict:
    pool = await open_pool(port)
    try:
        await request_codes(pool[:1], [door], port, sink)
        seen = []
        for _ in range(5):  # five wrong codes: the fifth locks the door out
            data, _sig = signed_post(
                door, VERIFY_PATH, {"challenge_id": door.challenge, "code": wrong_code(door.code)}, port
            )
            seen.append((await pool[0].roundtrip(data))[0])
        if seen[-1] != 429:
            raise RuntimeError(f"door not locked out after five wrong codes: {seen}")

        def make():  # a validly signed verify, fresh nonce and created each time
            return signed_post(door, VERIFY_PATH, {"challenge_id": door.challenge, "code": door.code}, port)

        def check(status, headers, body, sig):
            return status == 429 and "retry-after" in headers and reply_ok(door, status, headers, body, sig)

        await timed_load(pool, make, 0.5, check)  # warm-up
        start = meter.snap()
        result = await timed_load(pool, make, seconds, check)
        result["cpu"] = meter.since(start)
        result["wrong_code_statuses"] = seen
    finally:
        close_pool(pool)
    return result


async def probe_find_and_modify(db) -> dict:
    """One command of each kind by _id on the doors collection as the run left it: shows
    whether the database's cost per command grows with the collection (it should not)."""
    ids = [c["_id"] for c in await db.doors.find({}, {"_id": 1}).limit(20).to_list()]
    out = {"doors": await db.doors.count_documents({})}
    for name, op in (
        ("find_one", lambda i: db.doors.find_one({"_id": i})),
        ("update_one", lambda i: db.doors.update_one({"_id": i}, {"$set": {"probe": 1}})),
        ("find_one_and_update", lambda i: db.doors.find_one_and_update({"_id": i}, {"$set": {"probe": 2}})),
    ):
        t = time.perf_counter()
        for i in ids:
            await op(i)
        out[name] = (time.perf_counter() - t) / len(ids) * 1e3
    return out


async def codes_issued(db) -> int:
    return await db.audit.count_documents({"event": "code_request", "outcome": "success"})


# ---------------------------------------------------------------- round trips, in-process


class CommandCounter(monitoring.CommandListener):
    """The commands the app sends while recording, and each one's time to its answer."""

    def __init__(self) -> None:
        self.recording = False
        self.commands: list[str] = []
        self.durations: dict[int, float] = {}  # request id -> ms
        self._names: dict[int, int] = {}  # request id -> index in commands

    def started(self, event) -> None:
        if self.recording:
            self._names[event.request_id] = len(self.commands)
            self.commands.append(f"{event.command_name} {event.command.get(event.command_name, '')}")

    def succeeded(self, event) -> None:
        if (i := self._names.pop(event.request_id, None)) is not None:
            self.durations[i] = event.duration_micros / 1e3

    def failed(self, event) -> None:
        self._names.pop(event.request_id, None)

    def timed(self) -> list[str]:
        return [f"{c} {self.durations.get(i, float('nan')):.1f} ms" for i, c in enumerate(self.commands)]


async def round_trips(settings: Settings, sink, db, keyring: Keyring, profile_n: int) -> dict:
    """The server is another process, so its commands are counted here: the same app, built in
    this process with a command listener, driven through httpx.ASGITransport."""
    from app import router  # bench/app.py: the same extra route as the server's

    counter = CommandCounter()
    monitoring.register(counter)  # applies to clients created from now on: the app's
    app = create_app(settings, extra_routers=(router,))
    out: dict = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(HOST, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://door.test") as http:
            d, secret = await create_door(
                db,
                keyring,
                name=f"rt-{uuid.uuid4().hex[:8]}",
                recipients=[f"rt-{uuid.uuid4().hex[:8]}@bench.test"],
                now=datetime.now(UTC),
            )
            door = Door(d["_id"], bytes.fromhex(secret), d["name"], d["recipients"][0])

            async def post(path, payload):
                body = json.dumps(payload, separators=(",", ":")).encode()
                headers = httpsig.sign_request(
                    door.key, door.id, "POST", path, body, int(time.time()), secrets.token_hex(16)
                )
                return await http.post(path, content=body, headers={**headers, "Content-Type": "application/json"})

            async def code():
                since = datetime.now(UTC)
                counter.recording, counter.commands, counter.durations = True, [], {}
                r = await post(REQUEST_PATH, {"action": "unlock"})
                await app.state.services.background.idle()  # the ledger's record of the reply, written after it
                counter.recording = False
                assert r.status_code == 200, r.text
                door.challenge = r.json()["challenge_id"]
                codes_from_sink(sink, [door], since)
                return list(counter.commands)

            async def verify(c: str, expect: int) -> list[str]:
                counter.recording, counter.commands = True, []
                r = await post(VERIFY_PATH, {"challenge_id": door.challenge, "code": c})
                counter.recording = False
                assert r.status_code == expect, (r.status_code, r.text)
                return list(counter.commands)

            per_success = []
            for _ in range(5):
                out["code_request"] = await code()
                out["code_request_timed"] = counter.timed()
                per_success.append(await verify(door.code, 200))
            out["success"] = per_success
            out["code_request_count"] = len(out["code_request"])
            await code()
            out["wrong_code"] = await verify(wrong_code(door.code), 403)
            for _ in range(3):
                await verify(wrong_code(door.code), 403)
            out["lockout_trigger"] = await verify(wrong_code(door.code), 429)
            out["locked_out"] = await verify(door.code, 429)

            # a success after failures also resets the door's failure count: one more write
            async def door_of_its_own() -> None:
                """The lockout gate remembers the door above locked out for a second, and a door
                gets at most 100 codes per window: each profile uses a new door."""
                d, secret = await create_door(
                    db, keyring, name=f"prof-{uuid.uuid4().hex[:8]}",
                    recipients=[f"prof-{uuid.uuid4().hex[:8]}@bench.test"], now=datetime.now(UTC),
                )  # fmt: skip
                door.id, door.key, door.name = d["_id"], bytes.fromhex(secret), d["name"]
                door.recipient = d["recipients"][0]

            if profile_n:
                await door_of_its_own()
                prof = cProfile.Profile()
                total = 0.0
                for _ in range(profile_n):
                    await code()
                    prof.enable()
                    t = time.perf_counter()
                    await verify(door.code, 200)
                    total += time.perf_counter() - t
                    prof.disable()
                s = io.StringIO()
                pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
                out["profile"] = s.getvalue()
                out["profile_ms_per_verify"] = total / profile_n * 1e3
                await door_of_its_own()
                prof, total = cProfile.Profile(), 0.0
                for _ in range(profile_n):
                    prof.enable()
                    t = time.perf_counter()
                    await code()
                    total += time.perf_counter() - t
                    prof.disable()
                    await verify(door.code, 200)
                s = io.StringIO()
                pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(40)
                out["profile_request"] = s.getvalue()
                out["profile_ms_per_request"] = total / profile_n * 1e3
    monitoring._LISTENERS.command_listeners.remove(counter)  # no public unregister
    return out


# ---------------------------------------------------------------- set-up


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_before": os.getloadavg()[0],
    }


def start_server(env: dict, port: int, workdir: Path) -> subprocess.Popen:
    logfile = open(workdir / "server.log", "wb")  # noqa: SIM115 (the child writes it; closed after Popen)
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "app.py"), "--host", HOST, "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    logfile.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://{HOST}:{port}/bench/ping", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not start:\n" + (workdir / "server.log").read_text()[-2000:])
        time.sleep(0.05)


def server_env(*, mongo_url: str, db_name: str, data_dir: Path, mail_port: int, journal: bool = True) -> dict:
    """The benchmark server's settings (as environment variables): the bench's own database and
    the mail sink, nothing optional switched on, and BENCH_OVERRIDES. One place, so that run.py
    and scale.py measure the same server."""
    return {
        "MONGO_URL": mongo_url,
        "MONGO_DB": db_name,
        "SECRET_KEY": secrets.token_hex(32),
        "DATA_DIR": str(data_dir),
        "MAIL_SERVER": HOST,
        "MAIL_PORT": str(mail_port),
        "MAIL_STARTTLS": "false",
        "MAIL_SSL_TLS": "false",
        "MAIL_USERNAME": "",
        "RECIPIENTS": "",
        "MAIL_FROM": "door@bench.test",
        "LEGACY_API": "false",
        "DEMO_MODE": "false",
        "CORS_ORIGINS": "",
        "DB_JOURNAL": "true" if journal else "false",
        **BENCH_OVERRIDES,
    }


@contextlib.contextmanager
def database_and_sink(workdir: Path, db_name: str, results: dict):
    """Yields (mongo_url, the embedded database or None, the mail sink's controller, the sink):
    the embedded database under workdir/data, or MongoDB at MONGO_URL (then db_name is dropped at
    the end). Everything stops, and workdir is removed, however the run ends."""
    db_server = controller = None
    mongo_url = os.environ.get("MONGO_URL")
    try:
        if mongo_url:
            results["database"] = "MongoDB at MONGO_URL"
        else:
            log(f"starting the embedded database in {workdir}")
            db_server = embedded.start_or_share(workdir / "data")
            # the server gets it as MONGO_URL; without retryable writes, as runtime.open_database
            # connects to its own embedded database (why: there)
            mongo_url = db_server.uri + "&retryWrites=false"
            results["database"] = "embedded SecantusDB (its own process)"
        controller, sink = start_sink(HOST)
        yield mongo_url, db_server, controller, sink
    finally:
        if controller is not None:
            controller.stop()
        if db_server is not None:
            db_server.stop()
        elif mongo_url:
            from pymongo import MongoClient

            with MongoClient(mongo_url, serverSelectionTimeoutMS=2000) as c:
                c.drop_database(db_name)
        shutil.rmtree(workdir, ignore_errors=True)


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- report


def fmt_cpu(cpu: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())


def report(r: dict) -> str:
    c = r["ceiling"]["rps"]
    v, lk, rt = r["verify"], r["lockout"], r["round_trips"]
    rt_max = max(len(x) for x in rt["success"])
    srv_rss, srv_hwm = r["rss"]["server"]
    rows = [
        ("ceiling: GET /bench/ping, 50 conns", f"{c:,.0f} req/s", "-", "1.00x", ""),
        (
            "  same with an httpx client",
            f"{r['ceiling_httpx']['rps']:,.0f} req/s",
            "-",
            f"{r['ceiling_httpx']['rps'] / c:.2f}x",
            "(client-bound)",
        ),
        ("signed verify, 50 doors at once", f"{v['rps']:,.0f} req/s", "-", f"{v['rps'] / c:.2f}x", ""),
        ("  verify latency p50", f"{v['p50_ms']:.1f} ms", "-", "", ""),
        ("  verify latency p99", f"{v['p99_ms']:.1f} ms", "< 50 ms", "", "met" if v["p99_ms"] < 50 else "MISSED"),
        ("  one door alone, p50 (fresh DB)", f"{r['single_before']['p50_ms']:.1f} ms", "-", "", ""),
        (
            f"  one door alone, p50 ({r['single']['codes']} codes issued)",
            f"{r['single']['p50_ms']:.1f} ms",
            "-",
            "",
            "",
        ),
        (
            "one client: code request p50",
            f"{r['one_client']['request_p50_ms']:.1f} ms",
            "<= 15 ms",
            "",
            "met" if r["one_client"]["request_p50_ms"] <= 15 else "MISSED",
        ),
        ("one client: verify p50", f"{r['one_client']['verify_p50_ms']:.1f} ms", "-", "", ""),
        ("one client: request+mail+verify cycles", f"{r['one_client']['cycles_per_s']:.1f} /s", "-", "", ""),
        (
            "429 rejections during a lockout",
            f"{lk['rps']:,.0f} req/s",
            ">= 0.70x ceiling",
            f"{lk['rps'] / c:.2f}x",
            "met" if lk["rps"] >= 0.7 * c else "MISSED",
        ),
        ("DB round trips per successful verify", f"{rt_max}", "<= 4", "", "met" if rt_max <= 4 else "MISSED"),
        ("DB round trips per 429 (locked out)", f"{len(rt['locked_out'])}", "-", "", ""),
        ("server RSS after the run (peak)", f"{srv_rss / 1024:.0f} MiB ({srv_hwm / 1024:.0f})", "-", "", ""),
    ]
    if r["rss"].get("database"):
        rows.append(
            (
                "embedded DB RSS after the run (peak)",
                f"{r['rss']['database'][0] / 1024:.0f} MiB ({r['rss']['database'][1] / 1024:.0f})",
                "-",
                "",
                "",
            )
        )
    widths = [max(len(row[i]) for row in [*rows, ("figure", "value", "target", "/ceiling", "")]) for i in range(5)]
    head = ("figure", "value", "target", "/ceiling", "")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), "  ".join("-" * w for w in widths[:4])]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
    m = r["machine"]
    lines += [
        "",
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}, {m['date']}, "
        f"load average before the run {m['loadavg_before']:.2f}",
        f"database: {r['database']}, writes {'journaled' if r['journal'] else 'NOT journaled (DB_JOURNAL=false)'}; "
        f"server: uvicorn {r['uvicorn']} (1 worker, asyncio loop, h11), "
        f"bench settings {', '.join(f'{k}={v}' for k, v in BENCH_OVERRIDES.items())}",
        f"verify: {v['verifies']} verifies in {r['rounds']} rounds of 50, {sum(v['failures'].values())} not "
        f"successful {v['failures'] or ''}; max {v['max_ms']:.1f} ms; "
        f"first round {v['first_round_rps']:.0f} req/s, last round {v['last_round_rps']:.0f} req/s; "
        f"full request+mail+verify cycles "
        f"{v['cycles_per_s']:.0f}/s",
        f"lockout: five wrong codes -> {lk['wrong_code_statuses']}; then {lk['requests']} verifies in "
        f"{lk['seconds']:.1f} s, statuses {lk['statuses']}, {lk['bad']} not a signed 429 with Retry-After; "
        f"p50 {lk['p50_ms']:.1f} ms, p99 {lk['p99_ms']:.1f} ms",
        "round trips: success verify " + " | ".join(rt["success"][0]),
        "             429 locked out  " + " | ".join(rt["locked_out"]),
        "             wrong code      " + " | ".join(rt["wrong_code"]),
        f"             code request    {rt['code_request_count']} commands "
        "(not counted in the verify figure; the last one after the reply): " + " | ".join(rt["code_request_timed"]),
        f"one client: {r['one_client']['n']} cycles, request p99 {r['one_client']['request_p99_ms']:.1f} ms",
        f"database probe, one command by _id on doors ({r['probe']['doors']} documents): "
        f"find {r['probe']['find_one']:.1f} ms, update {r['probe']['update_one']:.1f} ms, "
        f"findAndModify {r['probe']['find_one_and_update']:.1f} ms",
        "CPU in cores used while measuring (server = uvicorn process, db = embedded database, "
        "bench = this process, other = rest of the machine):",
        f"  ceiling        {fmt_cpu(r['ceiling']['cpu'])}",
        f"  ceiling/httpx  {fmt_cpu(r['ceiling_httpx']['cpu'])}",
        f"  verify         {fmt_cpu(v['cpu'])}",
        f"  lockout 429    {fmt_cpu(lk['cpu'])}",
        f"  one client     {fmt_cpu(r['one_client']['cpu'])}",
        f"total run time {r['run_seconds']:.0f} s",
    ]
    return "\n".join(lines)


async def measure(
    args, port: int, settings: Settings, sink, db_pid: int | None, server_pid: int, results: dict
) -> None:
    meter = CpuMeter({"server": server_pid, "db": db_pid, "bench": os.getpid()})
    db = connect(settings.mongo_url, db_name=settings.mongo_db)
    keyring = settings.keyring()
    try:
        log("provisioning 52 doors through the service functions")
        doors = []
        run = uuid.uuid4().hex[:6]
        for i in range(args.one_client or CONCURRENCY + 2):
            d, secret = await create_door(
                db, keyring, name=f"bench-{run}-{i}", recipients=[f"door{i}-{run}@bench.test"], now=datetime.now(UTC)
            )
            doors.append(Door(d["_id"], bytes.fromhex(secret), d["name"], d["recipients"][0]))
        if args.one_client:
            await one_client_runs(args.one_client, port, doors, sink, meter, results)
            return
        verify_doors, locked_door, solo_door = doors[:CONCURRENCY], doors[CONCURRENCY], doors[CONCURRENCY + 1]

        log(f"1/5 ceiling: GET /bench/ping, {CONCURRENCY} connections, {args.seconds:.0f} s")
        results["ceiling"] = await ceiling(port, args.seconds, meter)
        log(f"    {results['ceiling']['rps']:,.0f} req/s; with httpx for comparison, {args.seconds / 2:.1f} s")
        results["ceiling_httpx"] = await ceiling_httpx(port, args.seconds / 2, meter)
        log(f"    httpx {results['ceiling_httpx']['rps']:,.0f} req/s")

        log(f"one client: {ONE_CLIENT_CYCLES} request+mail+verify cycles of one door")
        results["one_client"] = await one_client(port, solo_door, sink, ONE_CLIENT_CYCLES, meter)
        log(
            f"    request p50 {results['one_client']['request_p50_ms']:.1f} ms, verify p50 "
            f"{results['one_client']['verify_p50_ms']:.1f} ms, {results['one_client']['cycles_per_s']:.1f} cycles/s"
        )
        results["single_before"] = await single_door_latency(port, verify_doors[0], sink, 20)
        results["single_before"]["codes"] = await codes_issued(db)
        log(f"2/5 signed verify: {args.rounds} rounds of {CONCURRENCY} doors")
        results["verify"] = await verify_bursts(port, verify_doors, sink, args.rounds, meter)
        log(
            f"    {results['verify']['rps']:,.0f} req/s, p50 {results['verify']['p50_ms']:.1f} ms, "
            f"p99 {results['verify']['p99_ms']:.1f} ms"
        )
        results["single"] = await single_door_latency(port, verify_doors[0], sink, 20)
        results["single"]["codes"] = await codes_issued(db)

        log(f"3/5 lockout: 429s for {args.seconds:.0f} s on {CONCURRENCY} connections")
        results["lockout"] = await lockout_load(port, locked_door, sink, args.seconds, meter)
        log(f"    {results['lockout']['rps']:,.0f} req/s, statuses {results['lockout']['statuses']}")

        results["probe"] = await probe_find_and_modify(db)
        log("4/5 round trips per verify (app in this process, command monitoring)")
        results["round_trips"] = await round_trips(settings, sink, db, keyring, args.profile)
        log(f"    success verify: {results['round_trips']['success'][0]}")
    finally:
        await db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed load phase")
    parser.add_argument("--rounds", type=int, default=20, help="verify rounds of 50 doors (<= 95)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also cProfile N verifies and N code requests of the in-process app and print the top functions",
    )
    parser.add_argument(
        "--one-client",
        type=int,
        default=0,
        metavar="N",
        help="only the one-client phase, N runs (quick before/after comparisons); the other phases are skipped",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument(
        "--no-journal",
        action="store_true",
        help="the server with DB_JOURNAL=false (writes acknowledged before they are on disk), for comparison",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 95:
        parser.error("--rounds must be 1..95 (at most 100 codes per door per window)")
    if not 0 <= args.profile <= 95:
        parser.error("--profile must be 0..95 (at most 100 codes per door per window)")
    sys.path.insert(0, str(BENCH_DIR))
    t_start = time.monotonic()
    results: dict = {"machine": machine(), "rounds": args.rounds, "journal": not args.no_journal}
    import uvicorn

    results["uvicorn"] = uvicorn.__version__

    workdir = Path(tempfile.mkdtemp(prefix="smartdoor-bench-"))
    db_name = "smartdoor_bench_" + uuid.uuid4().hex[:8]
    with database_and_sink(workdir, db_name, results) as (mongo_url, db_server, controller, sink):
        server = None
        try:
            port = free_port()
            values = server_env(
                mongo_url=mongo_url,
                db_name=db_name,
                data_dir=workdir / "data",
                mail_port=controller.port,
                journal=not args.no_journal,
            )
            log(f"starting the server: uvicorn on {HOST}:{port}, 1 worker, log level warning")
            server = start_server({**os.environ, **values}, port, workdir)
            settings = Settings(_env_file=None, **{k.lower(): v for k, v in values.items()})
            db_pid = db_server.process.pid if db_server and db_server.process else None
            asyncio.run(measure(args, port, settings, sink, db_pid, server.pid, results))
            results["rss"] = {"server": rss_kib(server.pid), "database": rss_kib(db_pid)}
            log("5/5 RSS read; stopping everything")
        finally:
            stop_process(server)
    results["run_seconds"] = time.monotonic() - t_start
    if args.one_client:
        print(one_client_report(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=str))
        return 0
    print(report(results))
    if args.profile:
        print(
            f"\ncProfile of {args.profile} verifies through the in-process app "
            f"({results['round_trips']['profile_ms_per_verify']:.2f} ms each, profiler on):"
        )
        print(results["round_trips"]["profile"])
        print(
            f"\ncProfile of {args.profile} code requests through the in-process app "
            f"({results['round_trips']['profile_ms_per_request']:.2f} ms each, profiler on):"
        )
        print(results["round_trips"]["profile_request"])
    if args.json:
        results["round_trips"].pop("profile", None)
        results["round_trips"].pop("profile_request", None)
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
