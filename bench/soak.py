#!/usr/bin/env python
"""Smart Door soak run. A script, not a test: `.venv/bin/python bench/soak.py [--minutes 30]`.

The real server (bench/app.py: uvicorn as `smartdoor serve` builds it, one worker, its own
process) owns its embedded database under a temporary DATA_DIR, as `smartdoor serve` does, and
mails codes to an SMTP server in this process. 50 doors, each on its own loop, ask for a code,
read it from the mail, verify it and send a state report, then wait 2-4 s; with random faults:

- a wrong code (10 % of verifies): 403, or 429 once the door's failures start a lockout;
- a replay (10 % of verifies): the identical verify sent again must get the identical reply, and
  its nonce on another request (a state report) a 401 replayed_request;
- a database stop: the embedded database process is paused (SIGSTOP) for 10-30 s and continued
  (SIGCONT), which needs no supervisor; `--db-fault kill` kills it instead (SIGKILL), which only a
  backend that restarts its database survives;
- an SMTP stop: the mail server is stopped for 10-30 s and started again on the same port.

One fault every 4 minutes (--fault-every) from a minute after the warm-up, database and SMTP in turn. Every reply to
a signed request below 500 must be signed for it, but the unauthenticated 401s. The server's RSS is sampled every 5 s.

Passes when: no 500 ever; no 5xx outside a fault (a fault's window + 15 s: a 503
`db_unavailable`/`busy` while the database is stopped is its designed answer); every reply to a
signed request (below 500, but unauthenticated 401s) validly signed; no outcome that no fault
explains; after warm-up the server's RSS (the median of the last minute against the median of
the minute after warm-up) grows by at most 10 %. Prints a report, and writes the raw figures
with --json."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from doorlogic import httpsig
from smartdoor.doors.service import create_door
from smartdoor.settings import Settings
from smartdoor.store import embedded
from smartdoor.store.database import connect

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import run as bench  # noqa: E402  (bench/run.py: server start/stop, machine, RSS)

HOST = bench.HOST
DOORS = 50
REQUEST, VERIFY, STATE = "/api/v1/otp/request", "/api/v1/otp/verify", "/api/v1/state"
# every door cycles every 2-4 s: up to ~30 codes a minute, so the window is one minute of 100
SOAK_OVERRIDES = {"MAX_REQUESTS_PER_WINDOW": "100", "REQUEST_WINDOW_SECONDS": "60"}
GRACE = 15.0  # seconds after a fault in which its after-effects still count as the fault's
log = bench.log


# ---------------------------------------------------------------- the mail server


class CodeMail:
    """SMTP handler: the newest code mailed to each recipient (nothing else is kept)."""

    def __init__(self) -> None:
        self.latest: dict[str, str] = {}
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        text = msg.get_body(("plain",))
        m = re.search(r"Code: (\d+)", text.get_content() if text else "")
        with self.lock:
            self.count += 1
            if m:
                for rcpt in envelope.rcpt_tos:
                    self.latest[rcpt] = m.group(1)
        return "250 Message accepted"

    def take(self, rcpt: str) -> str | None:
        with self.lock:
            return self.latest.pop(rcpt, None)


class MailServer:
    def __init__(self, handler: CodeMail, port: int) -> None:
        self.handler, self.port = handler, port
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# ---------------------------------------------------------------- what happened


@dataclass
class Tally:
    started: float = field(default_factory=time.monotonic)
    replies: collections.Counter = field(default_factory=collections.Counter)  # (path, status, error)
    fault_windows: list[tuple[str, float, float]] = field(default_factory=list)  # kind, start, end (monotonic)
    in_fault: str | None = None
    server_errors: list[dict] = field(default_factory=list)  # every 5xx, with when and whether in a fault
    unsigned: list[dict] = field(default_factory=list)  # replies to signed requests that do not verify
    unexpected: list[dict] = field(default_factory=list)  # outcomes that a fault does not explain
    timeouts: list[dict] = field(default_factory=list)  # no reply to a request nor to its one resend
    resent: list[dict] = field(default_factory=list)  # no reply at first (connection error, timeout)
    cycles: int = 0
    opened: int = 0
    rss: list[tuple[float, int, int]] = field(default_factory=list)  # t, server KiB, database KiB
    disk: list[tuple[float, int]] = field(default_factory=list)  # t, bytes in the database's folder

    def t(self) -> float:
        return time.monotonic() - self.started

    def faulty(self, now: float | None = None) -> str | None:
        """The fault whose window (+ GRACE) `now` lies in, if any."""
        now = time.monotonic() if now is None else now
        if self.in_fault:
            return self.in_fault
        for kind, start, end in self.fault_windows:
            if start <= now <= end + GRACE:
                return kind
        return None


class Door:
    def __init__(self, door_id: str, secret_hex: str, recipient: str) -> None:
        self.id, self.key, self.recipient = door_id, bytes.fromhex(secret_hex), recipient


async def signed(
    http: httpx.AsyncClient, door: Door, path: str, payload: dict, tally: Tally, *, nonce: str | None = None
) -> tuple[httpx.Response | None, bytes, dict]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = httpsig.sign_request(
        door.key, door.id, "POST", path, body, int(time.time()), nonce or secrets.token_hex(16)
    )
    headers["Content-Type"] = "application/json"
    return await send(http, door, path, body, headers, tally), body, headers


async def send(http, door: Door, path: str, body: bytes, headers: dict, tally: Tally) -> httpx.Response | None:
    r = None
    for attempt in range(2):  # a lost reply is resent identically once, as the firmware does
        try:
            r = await http.post(path, content=body, headers=headers)
            break
        except httpx.HTTPError as exc:
            lost = {"t": round(tally.t(), 1), "path": path, "error": type(exc).__name__, "fault": tally.faulty()}
            (tally.timeouts if attempt else tally.resent).append(lost)
    if r is None:
        return None
    error = r.json().get("error") if r.headers.get("content-type", "").startswith("application/json") else None
    tally.replies[(path, r.status_code, error)] += 1
    if r.status_code >= 500:
        tally.server_errors.append(
            {"t": round(tally.t(), 1), "path": path, "status": r.status_code, "error": error, "fault": tally.faulty()}
        )
    # unauthenticated refusals are unsigned by design, and so is a 503 for a database that could not
    # even be asked for the door's key; any other reply to a signed request is signed for it
    if r.status_code < 500 and (r.status_code != 401 or error == "stale_request"):
        ok = httpsig.verify_reply(
            door.key,
            door.id,
            r.status_code,
            {k.lower(): v for k, v in r.headers.items()},
            r.content,
            headers["Signature"],
        )
        if not ok:
            tally.unsigned.append({"t": tally.t(), "path": path, "status": r.status_code})
    return r


def expect(tally: Tally, what: str, r: httpx.Response | None, allowed: set[int]) -> bool:
    """Notes an outcome that no fault explains; True when the reply is one of `allowed`."""
    if r is None or r.status_code in allowed:
        return r is not None
    if r.status_code in (429, 503) or tally.faulty():  # a lockout or a fault's after-effect
        return False
    tally.unexpected.append({"t": round(tally.t(), 1), "what": what, "status": r.status_code, "body": r.text[:200]})
    return False


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def _usable(r: httpx.Response | None) -> bool:
    return r is not None and r.status_code < 500


async def replayed(http, door: Door, path: str, first, body: bytes, headers: dict, tally: Tally) -> None:
    """The identical request again (a door that lost the reply): the identical reply."""
    again = await send(http, door, path, body, headers, tally)
    # in_progress (409): the first is still being stored, the door sends it again later
    differs = (
        _usable(first) and _usable(again) and (again.status_code, again.json()) != (first.status_code, first.json())
    )
    if differs and again.status_code != 409:
        tally.unexpected.append(
            {
                "t": round(tally.t(), 1),
                "what": f"resent {path}, another reply",
                "first": first.text[:120],
                "again": again.text[:120],
            }
        )


async def nonce_reused(http, door: Door, path: str, payload: dict, headers: dict, tally: Tally) -> None:
    """A captured request's nonce on another request, signed by the door: 401 replayed_request."""
    nonce = headers["Signature-Input"].split('nonce="')[1].split('"')[0]
    r, _, _ = await signed(http, door, path, payload, tally, nonce=nonce)
    if _usable(r) and (r.status_code, r.json().get("error")) != (401, "replayed_request"):
        tally.unexpected.append(
            {"t": round(tally.t(), 1), "what": f"nonce reused on {path}", "status": r.status_code, "body": r.text[:120]}
        )


async def door_loop(http, door: Door, mail: CodeMail, tally: Tally, stop_at: float, rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(0, 3))  # spread the doors' cycles
    while time.monotonic() < stop_at:
        tally.cycles += 1
        mail.take(door.recipient)  # a code from a cycle whose reply was lost is not this one's
        r, _, _ = await signed(http, door, REQUEST, {"action": "unlock"}, tally)
        code = None
        if expect(tally, "code request", r, {200}) and r is not None:
            reply = r.json()
            if reply["status"] == "success":
                code = mail.take(door.recipient)  # mailed before the reply was sent
                if code is None:
                    tally.unexpected.append({"t": round(tally.t(), 1), "what": "success but no mail"})
            elif not tally.faulty():
                tally.unexpected.append({"t": round(tally.t(), 1), "what": "partial_success", "body": r.text[:200]})
        if code is not None:
            roll = rng.random()
            typed = wrong(code) if roll < 0.1 else code
            payload = {"challenge_id": reply["challenge_id"], "code": typed}
            v, body, headers = await signed(http, door, VERIFY, payload, tally)
            if typed != code:
                expect(tally, "wrong code", v, {403})
            elif expect(tally, "verify", v, {200}):
                tally.opened += 1
            if 0.1 <= roll < 0.2 and _usable(v):  # replay it: the identical bytes, then its nonce on another code
                await replayed(http, door, VERIFY, v, body, headers, tally)
                other = {"challenge_id": reply["challenge_id"], "code": wrong(typed)}
                await nonce_reused(http, door, VERIFY, other, headers, tally)
        s, body, headers = await signed(http, door, STATE, {"state": "locked", "event": "heartbeat"}, tally)
        expect(tally, "state report", s, {200})
        # a captured state report: resent, then its nonce on a code request. Only one that was
        # answered: a request refused with a 503 before its nonce was stored was never acted on,
        # so the door (or a replay of it) may still send it once
        if rng.random() < 0.1 and _usable(s):
            await replayed(http, door, STATE, s, body, headers, tally)
            await nonce_reused(http, door, REQUEST, {"action": "unlock"}, headers, tally)
        await asyncio.sleep(rng.uniform(2, 4))


# ---------------------------------------------------------------- faults and sampling


def db_pid(data_dir: Path) -> int | None:
    try:
        return int(json.loads((data_dir / embedded.STATE_FILE).read_text())["pid"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


async def faults(args, tally: Tally, mail_server: MailServer, data_dir: Path | None, rng: random.Random) -> None:
    kinds = ["database", "smtp"] if data_dir is not None else ["smtp"]
    at = args.warmup * 60 + 60
    n = 0
    while True:
        await asyncio.sleep(max(0.0, at - tally.t()))
        if tally.t() > args.minutes * 60 - 90:
            return
        kind = kinds[n % len(kinds)]
        seconds = rng.uniform(10, 30)
        start = time.monotonic()
        tally.in_fault = kind
        log(f"fault: {kind} stopped for {seconds:.0f} s")
        if kind == "smtp":
            mail_server.stop()
            await asyncio.sleep(seconds)
            mail_server.start()
        else:
            pid = db_pid(data_dir)  # type: ignore[arg-type]
            if pid is None:
                log("fault: no embedded database process found; skipped")
            elif args.db_fault == "kill":
                os.kill(pid, signal.SIGKILL)
                await asyncio.sleep(seconds)
            else:
                os.kill(pid, signal.SIGSTOP)
                try:
                    await asyncio.sleep(seconds)
                finally:
                    os.kill(pid, signal.SIGCONT)
        tally.fault_windows.append((kind, start, time.monotonic()))
        tally.in_fault = None
        log(f"fault: {kind} back")
        n += 1
        at += args.fault_every


async def sample_rss(tally: Tally, server_pid: int, data_dir: Path | None, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        server = bench.rss_kib(server_pid)
        pid = db_pid(data_dir) if data_dir else None
        database = bench.rss_kib(pid) if pid else None
        tally.rss.append((round(tally.t(), 1), server[0] if server else 0, database[0] if database else 0))
        if data_dir and (not tally.disk or tally.t() - tally.disk[-1][0] >= 60):
            tally.disk.append((round(tally.t(), 1), bench.folder_bytes(data_dir)))
        await asyncio.sleep(5)


def rss_growth(tally: Tally, warmup_s: float) -> dict:
    after = [(t, s) for t, s, _ in tally.rss if t >= warmup_s]
    if len(after) < 4:
        return {}
    end_t = after[-1][0]
    first = [s for t, s in after if t < warmup_s + 60]
    last = [s for t, s in after if t > end_t - 60]
    base, end = statistics.median(first), statistics.median(last)
    return {
        "warmup_end_kib": base,
        "end_kib": end,
        "max_after_warmup_kib": max(s for _, s in after),
        "growth": end / base - 1,
        "start_kib": tally.rss[0][1],
    }


# ---------------------------------------------------------------- the run


async def soak(args, port: int, settings: Settings, mail: CodeMail, mail_server: MailServer, server_pid, data_dir):
    tally = Tally()
    rng = random.Random(args.seed)
    if data_dir is not None:
        shared = embedded.start_or_share(data_dir)  # the server's own database, shared as a CLI command does
        uri = shared.uri
    else:
        uri = settings.mongo_url
    db = connect(uri, db_name=settings.mongo_db)
    doors = []
    run_id = uuid.uuid4().hex[:6]
    for i in range(DOORS):
        d, secret = await create_door(
            db,
            settings.keyring(),
            name=f"soak-{run_id}-{i}",
            recipients=[f"door{i}-{run_id}@soak.test"],
            now=datetime.now(UTC),
        )
        doors.append(Door(d["_id"], secret, d["recipients"][0]))
    await db.close()
    log(f"{DOORS} doors provisioned; soaking for {args.minutes:g} min (warm-up {args.warmup:g} min)")
    stop_at = time.monotonic() + args.minutes * 60
    # idle connections are dropped before the server's 10 s header deadline closes them
    limits = httpx.Limits(max_connections=DOORS + 10, max_keepalive_connections=DOORS + 10, keepalive_expiry=5)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30, limits=limits) as http:

        async def progress() -> None:
            while time.monotonic() < stop_at:
                await asyncio.sleep(60)
                rss = tally.rss[-1] if tally.rss else (0, 0, 0)
                log(
                    f"{tally.t() / 60:4.1f} min: {tally.cycles} cycles, {tally.opened} opened, "
                    f"{len(tally.server_errors)} 5xx, {len(tally.unexpected)} unexpected, "
                    f"server RSS {rss[1] / 1024:.1f} MiB, db RSS {rss[2] / 1024:.1f} MiB"
                )

        side = [
            asyncio.create_task(faults(args, tally, mail_server, data_dir, rng)),
            asyncio.create_task(sample_rss(tally, server_pid, data_dir, stop_at)),
            asyncio.create_task(progress()),
        ]
        await asyncio.gather(*(door_loop(http, d, mail, tally, stop_at, random.Random(rng.random())) for d in doors))
        for task in side:
            task.cancel()
        await asyncio.gather(*side, return_exceptions=True)
    return tally


def report(args, tally: Tally, machine: dict, growth: dict, server_log: str) -> tuple[str, bool]:
    fives = tally.server_errors
    five_hundreds = [e for e in fives if e["status"] == 500]
    outside = [e for e in fives if not e["fault"]]
    tracebacks = server_log.count("Traceback")
    ok_rss = bool(growth) and growth["growth"] <= 0.10
    passed = not five_hundreds and not outside and not tally.unsigned and ok_rss and not tally.unexpected
    lines = [
        f"soak: {args.minutes:g} min, {DOORS} doors, warm-up {args.warmup:g} min, seed {args.seed}, "
        f"database fault: {args.db_fault}",
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, {machine['os']}, "
        f"{machine['date']}, load average at start {machine['loadavg_before']:.2f}, at end {os.getloadavg()[0]:.2f}",
        f"cycles {tally.cycles}, doors opened {tally.opened}",
        "faults: "
        + ", ".join(f"{k} at {s - tally.started:.0f}-{e - tally.started:.0f} s" for k, s, e in tally.fault_windows),
        "replies (path, status, error): count",
        *(f"  {p} {s} {e or ''}: {n}" for (p, s, e), n in sorted(tally.replies.items(), key=str)),
        f"5xx: {len(fives)} ({len(five_hundreds)} × 500; {len(outside)} outside a fault window + {GRACE:.0f} s)",
        *(f"  {e}" for e in fives[:20]),
        f"requests resent once after a connection error or timeout: {len(tally.resent)} "
        f"({sum(1 for x in tally.resent if not x['fault'])} outside a fault)",
        *(f"  {x}" for x in tally.resent[:5]),
        f"no reply to the request nor to its resend: {len(tally.timeouts)} "
        f"({sum(1 for x in tally.timeouts if not x['fault'])} outside a fault)",
        *(f"  {x}" for x in tally.timeouts[:10]),
        f"replies to signed requests not validly signed: {len(tally.unsigned)}",
        f"unexpected outcomes: {len(tally.unexpected)}",
        *(f"  {u}" for u in tally.unexpected[:20]),
        f"server log: {tracebacks} tracebacks",
    ]
    if growth:
        lines.append(
            f"server RSS: {growth['start_kib'] / 1024:.1f} MiB at start, {growth['warmup_end_kib'] / 1024:.1f} MiB "
            f"after warm-up (median of the next minute), {growth['end_kib'] / 1024:.1f} MiB at the end (median of "
            f"the last minute), max after warm-up {growth['max_after_warmup_kib'] / 1024:.1f} MiB: "
            f"growth {growth['growth'] * 100:+.1f} % (target ≤ +10 %)"
        )
    dbs = [d for _, _, d in tally.rss if d]
    if dbs:
        lines.append(
            f"embedded database RSS: {dbs[0] / 1024:.1f} MiB at start, {dbs[-1] / 1024:.1f} MiB at the end, "
            f"max {max(dbs) / 1024:.1f} MiB"
        )
    if tally.disk:
        lines.append("database files on disk, MiB, each minute: " + " ".join(f"{b / 2**20:.0f}" for _, b in tally.disk))
    lines.append("PASSED" if passed else "FAILED")
    return "\n".join(lines), passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes before RSS growth is measured")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-every", type=float, default=240.0, help="seconds between faults")
    parser.add_argument(
        "--db-fault",
        choices=["stop", "kill"],
        default="stop",
        help="stop: SIGSTOP/SIGCONT the embedded database; kill: SIGKILL it (needs a "
        "backend that restarts its database)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args()
    machine = bench.machine()
    workdir = Path(tempfile.mkdtemp(prefix="smartdoor-soak-"))
    mongo_url = os.environ.get("MONGO_URL")
    data_dir = None if mongo_url else workdir / "data"
    mail = CodeMail()
    mail_server = MailServer(mail, bench.free_port())
    mail_server.start()
    port = bench.free_port()
    values = {
        "MONGO_URL": mongo_url or "",
        "MONGO_DB": "smartdoor_soak_" + uuid.uuid4().hex[:8],
        "SECRET_KEY": secrets.token_hex(32),
        "DATA_DIR": str(workdir / "data"),
        "MAIL_SERVER": HOST,
        "MAIL_PORT": str(mail_server.port),
        "MAIL_STARTTLS": "false",
        "MAIL_SSL_TLS": "false",
        "MAIL_USERNAME": "",
        "RECIPIENTS": "",
        "MAIL_FROM": "door@soak.test",
        "LEGACY_API": "false",
        "DEMO_MODE": "false",
        "CORS_ORIGINS": "",
        **SOAK_OVERRIDES,
    }
    server = None
    try:
        log(
            f"starting the server (it starts its own embedded database in {workdir})"
            if data_dir
            else "starting the server on MONGO_URL (no database fault: the database is not ours to stop)"
        )
        server = bench.start_server({**os.environ, **values}, port, workdir)
        settings = Settings(_env_file=None, **{k.lower(): v for k, v in values.items()})
        tally = asyncio.run(soak(args, port, settings, mail, mail_server, server.pid, data_dir))
    finally:
        pid = db_pid(data_dir) if data_dir else None
        if pid:
            os.kill(pid, signal.SIGCONT)  # never leave it stopped
        bench.stop_process(server)
        mail_server.stop()
    server_log = (workdir / "server.log").read_text(errors="replace")
    growth = rss_growth(tally, args.warmup * 60)
    text, passed = report(args, tally, machine, growth, server_log)
    print(text)
    if args.json:
        raw = {
            "machine": machine,
            "args": vars(args) | {"json": str(args.json)},
            "replies": {f"{p} {s} {e}": n for (p, s, e), n in tally.replies.items()},
            "server_errors": tally.server_errors,
            "unexpected": tally.unexpected,
            "timeouts": tally.timeouts,
            "rss": tally.rss,
            "disk": tally.disk,
            "growth": growth,
            "faults": [(k, s - tally.started, e - tally.started) for k, s, e in tally.fault_windows],
            "passed": passed,
        }
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    if passed:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"server log and database kept in {workdir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
