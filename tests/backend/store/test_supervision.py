"""The embedded database is supervised: the real `smartdoor serve` (its own process, a real
socket, the embedded database, the SMTP sink) with 50 doors cycling code requests, verifies and
state reports while the database is killed (twice: once its port stays free, once another
process takes it) and stopped for 10 s. Meanwhile only 503s with Retry-After, never a 500;
the doors get through again once the database is back; embedded-db.json names the running one.
Nothing acknowledged is lost: every code request and verify a door got a 200 for is in the
audit afterwards, and a used code typed again (a new request, retried through the outage) is
refused, also when the kill fell between the two (writes are journaled: store.database)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smartdoor.clock import SystemClock
from smartdoor.crypto import Keyring
from smartdoor.doors.service import create_door
from smartdoor.store import embedded
from smartdoor.store.database import connect
from tests.conftest import TEST_SECRET_KEY, SignedDevice

pytestmark = pytest.mark.subprocess

HOST = "127.0.0.1"
DOORS = 50
START_TIMEOUT = 90
BACK_TIMEOUT = 60  # generous: the database restarts in about 2 s here
STOP_SECONDS = 10


def serve_env(data_dir: Path, smtp_port: int, **env) -> dict:
    """The environment of `smartdoor serve` and of the CLI commands beside it."""
    values = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "MONGO_", "DATA_"))}
    values.update(
        SECRET_KEY=TEST_SECRET_KEY,
        DATA_DIR=str(data_dir),
        MAIL_SERVER=HOST,
        MAIL_PORT=str(smtp_port),
        MAIL_STARTTLS="false",
        MAIL_FROM="door@example.com",
        RECIPIENTS="",
        MAX_REQUESTS_PER_WINDOW="100",  # the doors cycle codes far faster than people do
        PYTHONUNBUFFERED="1",
        **env,
    )
    return values


class Serve:
    """`smartdoor serve` with the embedded database under workdir/data (no MONGO_URL)."""

    def __init__(self, workdir: Path, smtp_port: int, **env) -> None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.env = serve_env(self.data_dir, smtp_port, **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartdoor.cli", "serve", "--host", HOST, "--port", str(self.port)],
            env=self.env,
            cwd=workdir,  # no .env of the developer's
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()
        self.url = f"http://{HOST}:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def database(self) -> dict:
        return json.loads((self.data_dir / embedded.STATE_FILE).read_text())

    async def health(self) -> dict | None:
        async with httpx.AsyncClient() as http:
            try:
                return (await http.get(self.url + "/health", timeout=5)).json()
            except (httpx.HTTPError, ValueError):
                return None

    async def wait_connected(self, timeout: float, *, other_than: int | None = None) -> float:
        """Waits until /health says the database is connected (and embedded-db.json names a
        process other than `other_than`); returns when that was seen (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            body = await self.health()
            with contextlib.suppress(FileNotFoundError, ValueError):
                if body and body["database"] == "connected" and self.database()["pid"] != other_than:
                    return time.monotonic()
            assert self.proc.poll() is None, "server ended\n" + self.output
            assert time.monotonic() < deadline, "database not back in time\n" + self.output
            await asyncio.sleep(0.1)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)


@dataclass
class Outcome:
    at: float
    door: int
    path: str
    status: int
    error: str | None
    retry_after: str | None
    signed: bool


@dataclass
class Load:
    """DOORS doors, each a loop of: code request, its code from the mail, verify, state report."""

    url: str
    sink: object
    devices: list[SignedDevice] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    # what the server acknowledged (a 200): (door, challenge id) of code requests and of verifies
    requested: list[tuple[int, str]] = field(default_factory=list)
    verified: list[tuple[int, str]] = field(default_factory=list)
    used_again: list[tuple[int, str, int]] = field(default_factory=list)  # a used code let in twice
    bad_signatures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    just_verified: asyncio.Event = field(default_factory=asyncio.Event)
    first_through: list[float] = field(default_factory=list)  # the first door's 200 after each wait's moment

    async def send(self, index: int, path: str, payload: dict) -> httpx.Response | None:
        device = self.devices[index]
        try:
            response = await device.post(path, payload, check_reply=False)
        except httpx.HTTPError:  # the server itself never stops here; count as no answer
            self.outcomes.append(Outcome(time.monotonic(), index, path, 0, "no answer", None, False))
            return None
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        signed = "signature" in response.headers
        if signed and not device.reply_verifies(response, device.last_request_headers):
            self.bad_signatures.append(f"{path} {response.status_code}")
        self.outcomes.append(
            Outcome(
                time.monotonic(),
                index,
                path,
                response.status_code,
                body.get("error"),
                response.headers.get("retry-after"),
                signed,
            )
        )
        return response

    def mails_to(self, index: int) -> list[dict]:
        return [m for m in self.sink.messages() if f"door{index}@example.com" in m["to"]]

    async def door(self, index: int) -> None:
        while not self.stop.is_set():
            before = len(self.mails_to(index))
            response = await self.send(index, "/api/v1/otp/request", {"action": "unlock"})
            if response is not None and response.status_code == 200:
                challenge = response.json()["challenge_id"]
                self.requested.append((index, challenge))
                code = await self.code_for(index, before)
                payload = {"challenge_id": challenge, "code": code}
                # retried through an outage, as a person would type again (each a new signed request)
                verified = await self.until_answered(index, "/api/v1/otp/verify", payload)
                if verified is not None and verified.status_code == 200:
                    self.verified.append((index, challenge))
                    self.just_verified.set()
                    # the same code typed again, after the state report: if the database was
                    # killed in between and forgot the use, this would let the code in twice
                    await self.send(index, "/api/v1/state", {"state": "unlocked"})
                    again = await self.until_answered(index, "/api/v1/otp/verify", payload)
                    if again is not None and again.status_code == 200:
                        self.used_again.append((index, challenge, again.status_code))
            await self.send(index, "/api/v1/state", {"state": "locked"})
            await asyncio.sleep(0.05 if response is not None and response.status_code == 200 else 0.3)

    async def until_answered(self, index: int, path: str, payload: dict, tries: int = 100) -> httpx.Response | None:
        """Sends until the answer is not a 503 (or after `tries`: a stop or kill lasts seconds)."""
        for _ in range(tries):
            response = await self.send(index, path, payload)
            if response is not None and response.status_code != 503:
                return response
            await asyncio.sleep(0.3)
        return None

    async def code_for(self, index: int, before: int) -> str:
        for _ in range(200):
            mails = self.mails_to(index)
            if len(mails) > before:
                return re.search(r"Code: (\d+)", mails[0]["text"]).group(1)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no code mail for door {index}")

    async def next_verify_acknowledged(self) -> None:
        """Returns as a door is told its code was right: a kill now falls where the use and its
        audit event are the newest writes, the ones an unjournaled database loses first."""
        self.just_verified.clear()
        await asyncio.wait_for(self.just_verified.wait(), 60)

    def successes_after(self, moment: float) -> set[int]:
        return {o.door for o in self.outcomes if o.at >= moment and o.status == 200}

    async def wait_all_succeed_after(self, moment: float, timeout: float) -> float:
        """Waits until every door has had a 200 after `moment`; returns how long the slowest took
        (and notes how long the first took, for the figures)."""
        deadline = time.monotonic() + timeout
        while len(self.successes_after(moment)) < DOORS:
            assert time.monotonic() < deadline, f"doors without a success: {DOORS - len(self.successes_after(moment))}"
            await asyncio.sleep(0.1)
        firsts = [min(o.at for o in self.outcomes if o.door == d and o.at >= moment and o.status == 200) for d in
                  range(DOORS)]  # fmt: skip
        self.first_through.append(min(firsts) - moment)
        return max(firsts) - moment


async def add_doors(data_dir: Path, count: int) -> list[tuple[str, str]]:
    """Through the running server's database, shared as any CLI command shares it."""
    server = await asyncio.to_thread(embedded.start_or_share, data_dir)
    assert not server.owned
    db = connect(server.uri, db_name="smart_door")
    try:
        return [
            (door["_id"], secret)
            for door, secret in [
                await create_door(
                    db,
                    Keyring(TEST_SECRET_KEY.encode()),
                    name=f"Door {i}",
                    recipients=[f"door{i}@example.com"],
                    now=datetime.now(UTC),
                )
                for i in range(count)
            ]
        ]
    finally:
        await db.close()


async def check_nothing_acknowledged_lost(uri: str, load: Load) -> None:
    """Every acknowledged code request and verify has its audit event (exactly one success per
    verified code); no used code was let in twice."""
    db = connect(uri, db_name="smart_door")
    try:
        events = await db.audit.find(
            {"event": {"$in": ["code_request", "verify"]}, "outcome": "success"}, {"event": 1, "challenge": 1}
        ).to_list()
    finally:
        await db.close()
    requested = {e["challenge"] for e in events if e["event"] == "code_request"}
    uses: dict[str, int] = {}
    for e in events:
        if e["event"] == "verify":
            uses[e["challenge"]] = uses.get(e["challenge"], 0) + 1
    missing_requests = [c for _, c in load.requested if c not in requested]
    assert not missing_requests, f"{len(missing_requests)} acknowledged code requests not in the audit"
    missing_uses = [c for _, c in load.verified if c not in uses]
    assert not missing_uses, f"{len(missing_uses)} acknowledged verifies not in the audit"
    assert not load.used_again, f"used codes let in again: {load.used_again}"
    assert all(n == 1 for n in uses.values()), {c: n for c, n in uses.items() if n > 1}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie is dead, just not reaped yet
    except FileNotFoundError:
        return False


def squat(port: int, timeout: float = 10) -> socket.socket:
    """Listen on port as soon as the killed database has let it go (and never answer)."""
    deadline = time.monotonic() + timeout
    while True:
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind((HOST, port))
            squatter.listen()
            return squatter
        except OSError:
            squatter.close()
            assert time.monotonic() < deadline, "the killed database's port was not released"
            time.sleep(0.01)


def check_outage(outcomes: list[Outcome], since: float, until: float) -> int:
    """Everything answered in [since, until] is a 2xx/4xx of the engine or a 503 with Retry-After."""
    seen = [o for o in outcomes if since <= o.at <= until]
    assert not [o for o in seen if o.status >= 500 and o.status != 503], seen
    unavailable = [o for o in seen if o.status == 503]
    assert all(o.retry_after and o.error in ("db_unavailable", "busy") for o in unavailable), unavailable
    assert not [o for o in seen if o.status == 0], "requests the server did not answer"
    return len(unavailable)


async def test_database_killed_and_stopped_under_load(tmp_path, smtp_sink):
    controller, sink = smtp_sink
    serve = Serve(tmp_path, controller.port)
    try:
        await serve.wait_connected(START_TIMEOUT)
        first = serve.database()
        assert alive(first["pid"])
        load = Load(serve.url, sink)
        load.devices = [
            SignedDevice(httpx.AsyncClient(base_url=serve.url, timeout=30), door_id, secret, SystemClock())
            for door_id, secret in await add_doors(serve.data_dir, DOORS)
        ]
        doors = [asyncio.create_task(load.door(i)) for i in range(DOORS)]
        started = time.monotonic()
        await load.wait_all_succeed_after(started, 60)
        report = {}

        # 1. killed; its port stays free: the database comes back on it and the app's client reconnects
        await load.next_verify_acknowledged()
        killed_at = time.monotonic()
        os.kill(first["pid"], signal.SIGKILL)
        back_at = await serve.wait_connected(BACK_TIMEOUT, other_than=first["pid"])
        second = serve.database()
        assert second["port"] == first["port"] and alive(second["pid"]) and not alive(first["pid"])
        report["kill: database back after"] = back_at - killed_at
        report["kill: every door through after"] = await load.wait_all_succeed_after(back_at, 30)

        # 2. killed, and another process takes its port at once: a new port, a new client
        await load.next_verify_acknowledged()
        killed_at = time.monotonic()
        os.kill(second["pid"], signal.SIGKILL)
        squatter = await asyncio.to_thread(squat, second["port"])
        try:
            back_at = await serve.wait_connected(BACK_TIMEOUT, other_than=second["pid"])
            third = serve.database()
            assert third["port"] != second["port"] and alive(third["pid"])
            report["kill, port taken: database back after"] = back_at - killed_at
            report["kill, port taken: every door through after"] = await load.wait_all_succeed_after(back_at, 30)
        finally:
            squatter.close()

        # 3. stopped for 10 s, then continued: the same process serves again
        stopped_at = time.monotonic()
        os.kill(third["pid"], signal.SIGSTOP)
        await asyncio.sleep(STOP_SECONDS)
        stopped = [o for o in load.outcomes if o.at > stopped_at + 0.5]  # past the replies already under way
        os.kill(third["pid"], signal.SIGCONT)
        continued_at = time.monotonic()
        report["stop: every door through after"] = await load.wait_all_succeed_after(continued_at, 30)
        assert serve.database() == third  # nothing was restarted
        # answered within DB_OPERATION_TIMEOUT_MS (5 s), not held for the whole stop
        assert stopped and all(o.status == 503 for o in stopped), "requests succeeded while the database was stopped"

        load.stop.set()
        await asyncio.gather(*doors)
        for device in load.devices:
            await device.http.aclose()
        unavailable = check_outage(load.outcomes, started, time.monotonic())
        assert unavailable > 0  # the outages were seen by the doors
        assert not load.bad_signatures, load.bad_signatures
        verified = {o.door for o in load.outcomes if o.status == 200 and o.path.endswith("verify")}
        assert verified == set(range(DOORS))  # every door went through a whole code cycle
        shared = await asyncio.to_thread(embedded.start_or_share, serve.data_dir)
        await check_nothing_acknowledged_lost(shared.uri, load)
        assert "Traceback" not in serve.output, serve.output
        assert serve.output.count("embedded database running again") == 2
        assert "not trusted" not in serve.output  # the dead process's embedded-db.json was removed at once
        signed = sum(o.status == 503 and o.signed for o in load.outcomes)
        print({k: round(v, 2) for k, v in report.items()}, "first door through after each:",
              [round(t, 2) for t in load.first_through[1:]], f"503s: {unavailable} ({signed} signed)",
              f"requests: {len(load.outcomes)}, acknowledged: {len(load.requested)} code requests, "
              f"{len(load.verified)} verifies")  # fmt: skip
    finally:
        serve.stop()
    assert not alive(third["pid"]), "the database outlived the server"
    assert not (serve.data_dir / embedded.STATE_FILE).exists()
