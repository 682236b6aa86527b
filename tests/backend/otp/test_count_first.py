"""Count first, then compare: whatever the concurrency, and with two backend processes on one
database, at most MAX_ATTEMPTS_PER_CODE codes are ever compared per code, every wrong
comparison is counted as one of the door's consecutive failures, none happens while the door
is locked out, and a right code uses up an attempt too. The comparison itself is counted
(smartdoor.otp.codes.matches is the only one)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smartdoor.doors.service import create_door
from smartdoor.otp import codes
from smartdoor.settings import Settings
from smartdoor.store.database import connect
from tests.conftest import TEST_SECRET_KEY, SignedDevice, code_in

ROOT = Path(__file__).resolve().parents[3]
GUESSES = 30


def wrong_codes(right: str, n: int, digits: int = 6) -> list[str]:
    out, i = [], 0
    while len(out) < n:
        guess = str(i).zfill(digits)
        if guess != right:
            out.append(guess)
        i += 1
    return out


@pytest.fixture
def counted(monkeypatch):
    """Every comparison made in this process: True (right) / False (wrong)."""
    seen: list[bool] = []
    real = codes.matches

    def counting(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(codes, "matches", counting)
    return seen


async def door_record(h, device):
    return await h.db.doors.find_one({"_id": device.door_id})


async def test_30_parallel_wrong_codes_make_at_most_5_comparisons_all_counted(make_harness, counted):
    async with make_harness(failures_per_lockout=1000, hard_lockout_failures=1000) as h:
        device = await h.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        replies = await asyncio.gather(*(device.verify(cid, g) for g in wrong_codes(h.latest_code(1), GUESSES)))
        assert len(counted) == 5 and not any(counted)
        door = await door_record(h, device)
        assert door["failures"] == counted.count(False) == 5
        assert door["pending"]["attempts"] == 5
        assert sorted(r.status_code for r in replies).count(403) == 4
        assert {r.json()["error"] for r in replies} <= {"wrong_code", "burned"}
        assert len(await h.audit(event="wrong_code")) == 5


async def test_no_comparison_while_the_door_is_locked_out(make_harness, counted):
    """With a lockout after 3 failures, the 4th and 5th attempts on the code never happen."""
    async with make_harness(failures_per_lockout=3) as h:
        device = await h.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        right = h.latest_code(1)
        guesses = [*wrong_codes(right, GUESSES - 1), right]  # the right code comes last, too late
        replies = await asyncio.gather(*(device.verify(cid, g) for g in guesses))
        assert len(counted) == 3 and not any(counted)
        door = await door_record(h, device)
        assert door["failures"] == 3 and door["locked_until"] > h.clock.now()
        assert {r.status_code for r in replies} == {403, 429}
        assert sum(r.status_code == 429 for r in replies) == GUESSES - 2


async def test_a_right_code_uses_an_attempt_too(make_harness, counted):
    async with make_harness(failures_per_lockout=1000, hard_lockout_failures=1000) as h:
        device = await h.add_door()
        cid = (await device.request_code()).json()["challenge_id"]
        right = h.latest_code(1)
        for guess in wrong_codes(right, 4):
            assert (await device.verify(cid, guess)).status_code == 403
        guesses = [right] * 10  # the 5th and last attempt: right; all the others are refused
        replies = await asyncio.gather(*(device.verify(cid, g) for g in guesses))
        assert sorted(r.status_code for r in replies) == [200] + [410] * 9
        assert counted == [False] * 4 + [True]
        door = await door_record(h, device)
        assert door["failures"] == 0 and door["pending"] is None  # the success reset the count


# --- two backend processes on one database ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackendProcess:
    def __init__(self, env: dict, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"backend-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "tests.backend.otp.counting_app:make_app",
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("backend did not start: " + self.log.read_text()[-2000:])
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def two_backends(mongo_uri, tmp_path, smtp_sink):
    """Start two backend processes with the given extra settings; yields (urls, comparisons file, sink)."""
    controller, sink = smtp_sink
    started: list[BackendProcess] = []
    comparisons = tmp_path / "comparisons"

    def start(**settings) -> list[str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "MONGO_URL": mongo_uri,
            "MONGO_DB": "t_two_" + os.urandom(6).hex(),
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATA_DIR": str(tmp_path),
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(controller.port),
            "MAIL_STARTTLS": "false",
            "COMPARISONS_FILE": str(comparisons),
            **{k.upper(): str(v) for k, v in settings.items()},
        }
        for _ in range(2):
            started.append(BackendProcess(env, tmp_path))
        for backend in started:
            backend.wait_ready()
        return [b.url for b in started], env

    yield start, comparisons, sink
    for backend in started:
        backend.stop()


def comparison_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.subprocess
async def test_two_processes_30_parallel_wrong_codes(two_backends, mongo_uri):
    start, comparisons, sink = two_backends
    urls, env = start(failures_per_lockout=1000, hard_lockout_failures=1000)
    db = connect(mongo_uri, db_name=env["MONGO_DB"])
    settings = Settings(_env_file=None, secret_key=TEST_SECRET_KEY)
    door, secret = await create_door(db, settings.keyring(), name="Two", recipients=["a@example.com"], now=_now())
    clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
    try:
        devices = [SignedDevice(c, door["_id"], secret, _RealClock()) for c in clients]
        cid = (await devices[0].request_code()).json()["challenge_id"]
        right = code_in(sink.wait_for(1)[0])
        guesses = wrong_codes(right, GUESSES)
        replies = await asyncio.gather(*(devices[i % 2].verify(cid, g) for i, g in enumerate(guesses)))
        lines = comparison_lines(comparisons)
        assert len(lines) <= 5 and set(lines) <= {"0"}, lines
        record = await db.doors.find_one({"_id": door["_id"]})
        assert record["failures"] == lines.count("0") == 5
        assert {r.status_code for r in replies} <= {403, 410}
    finally:
        for c in clients:
            await c.aclose()
        await db.client.drop_database(env["MONGO_DB"])
        await db.close()


@pytest.mark.subprocess
async def test_two_processes_30_parallel_guesses_on_the_original_sketch_routes(two_backends, mongo_uri):
    start, comparisons, sink = two_backends
    urls, env = start(legacy_api="true", legacy_allowed_clients="127.0.0.1", recipients="ops@example.com")
    clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
    db = connect(mongo_uri, db_name=env["MONGO_DB"])
    try:
        assert (await clients[0].post("/send-otp", json={"otp": "1234", "mode": "unlock"})).status_code == 200
        right = code_in(sink.wait_for(1)[0])
        guesses = wrong_codes(right, GUESSES, digits=4)
        replies = await asyncio.gather(
            *(clients[i % 2].post("/verify-otp", json={"otp": g}) for i, g in enumerate(guesses))
        )
        lines = comparison_lines(comparisons)
        assert len(lines) <= 5 and set(lines) <= {"0"}, lines
        record = await db.doors.find_one({"legacy": True})
        assert record["failures"] == lines.count("0")
        assert {r.status_code for r in replies} <= {400, 429}
    finally:
        for c in clients:
            await c.aclose()
        await db.client.drop_database(env["MONGO_DB"])
        await db.close()


def _now():
    return datetime.now(UTC)


class _RealClock:
    def now(self):
        return _now()
