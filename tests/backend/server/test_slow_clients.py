"""Slow and many clients against the real `smartdoor serve` (its own process, a real socket, the
embedded database, the SMTP sink): slow senders are cut at their header and body deadlines,
connections beyond the caps are refused, and a real door still gets its signed answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from doorlogic import httpsig
from smartdoor.clock import SystemClock
from smartdoor.crypto import Keyring
from smartdoor.doors.service import create_door
from smartdoor.store.database import connect
from tests.conftest import TEST_SECRET_KEY, SignedDevice, code_in

pytestmark = pytest.mark.subprocess

HOST = "127.0.0.1"
DOOR_ADDRESS = "127.0.0.2"  # the door's own address: attackers' connections come from others
VERIFY_PATH = "/api/v1/otp/verify"
REQUEST_PATH = "/api/v1/otp/request"
START_TIMEOUT = 60
CLOSE_TIMEOUT = 30  # generous: the deadlines under test are 2 s and 3 s
VERIFY_ANSWER_TIMEOUT = 2
CLEAN_EXIT = (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once it has shut down


class ServerProcess:
    """`smartdoor serve` on a free loopback port, configured through the environment."""

    def __init__(self, tmp_path, mongo_uri: str, smtp_sink, *, db_name: str | None = None, **env) -> None:
        """db_name: another process's database, for several processes on one."""
        controller, self.sink = smtp_sink
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        self.db_name = db_name or "t_" + uuid.uuid4().hex[:12]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "MONGO_"))}
        self.env.update(
            MONGO_URL=mongo_uri,
            MONGO_DB=self.db_name,
            SECRET_KEY=TEST_SECRET_KEY,
            DATA_DIR=str(tmp_path / "data"),
            MAIL_SERVER=HOST,
            MAIL_PORT=str(controller.port),
            MAIL_STARTTLS="false",
            MAIL_FROM="door@example.com",
            RECIPIENTS="",
            PYTHONUNBUFFERED="1",
            **env,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartdoor.cli", "serve", "--host", HOST, "--port", str(self.port)],
            env=self.env,
            cwd=tmp_path,  # no .env of the developer's
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

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(self.url + "/health", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert self.proc.poll() is None and time.monotonic() < deadline, "server did not start\n" + self.output
                await asyncio.sleep(0.1)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the server did not shut down:\n" + self.output) from None
        self._reader.join(5)
        assert "Application shutdown complete" in self.output
        return code


@pytest.fixture
async def start_server(tmp_path, mongo_uri, smtp_sink):
    started: list[ServerProcess] = []

    async def start(**env) -> ServerProcess:
        server = ServerProcess(tmp_path, mongo_uri, smtp_sink, **env)
        started.append(server)
        await server.wait_ready()
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            assert server.stop() in CLEAN_EXIT, server.output  # a clean shutdown, slow clients or not
        db = connect(mongo_uri, db_name=server.db_name)
        await db.db.client.drop_database(server.db_name)
        await db.close()


async def add_door(server: ServerProcess) -> tuple[str, str]:
    db = connect(server.env["MONGO_URL"], db_name=server.db_name)
    try:
        door, secret = await create_door(
            db,
            Keyring(TEST_SECRET_KEY.encode()),
            name="Front door",
            recipients=["alice@example.com"],
            now=SystemClock().now(),
        )
    finally:
        await db.close()
    return door["_id"], secret


@contextlib.asynccontextmanager
async def door_client(server: ServerProcess, door_id: str, secret: str, address: str = DOOR_ADDRESS):
    """A door on its own loopback address: httpx over a real socket, signing like the firmware, a
    new connection for each request as the firmware makes (no race with a server closing an idle
    kept-alive one)."""
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(max_keepalive_connections=0))
    async with httpx.AsyncClient(transport=transport, base_url=server.url, timeout=10) as http:
        yield SignedDevice(http, door_id, secret, SystemClock())


async def open_from(address: str, port: int, first: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(address, 0))
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection (EOF or reset)."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(4096):
            received += chunk
    return received


async def answer_to_new_connection(address: str, port: int) -> bytes:
    """What the server says to a new connection that starts a request, until it closes it."""
    reader, writer = await open_from(address, port, b"POST / HTTP/1.1\r\n")
    try:
        return await asyncio.wait_for(closed_by_server(reader), CLOSE_TIMEOUT)
    finally:
        writer.close()


def request_head(path: str, port: int, *extra: str) -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", f"Host: {HOST}:{port}", *extra]).encode() + b"\r\n"


class HeaderDribbler:
    """Sends an unfinished header, then one more byte every half second, until the server closes."""

    def __init__(self, reader, writer) -> None:
        self.reader, self.writer = reader, writer
        self.task = asyncio.create_task(self._dribble())

    async def _dribble(self) -> None:
        for _ in range(int(CLOSE_TIMEOUT / 0.5)):
            if self.reader.at_eof() or self.writer.is_closing():  # closed, or reset
                return
            self.writer.write(b"a")
            await asyncio.sleep(0.5)


async def test_slow_clients_are_closed_at_their_deadlines_while_a_door_still_verifies(start_server):
    server = await start_server(HEADER_TIMEOUT_SECONDS="2", BODY_TIMEOUT_SECONDS="3")
    door_id, secret = await add_door(server)
    async with door_client(server, door_id, secret) as door:
        challenge = (await door.request_code("unlock")).json()["challenge_id"]
        code = code_in((await asyncio.to_thread(server.sink.wait_for, 1))[0])

        # 200 slow connections from four attacker addresses (50 each, under the per-client cap)
        attackers = [f"127.0.0.{11 + i}" for i in range(4)]
        dribblers, body_waiters = [], []
        for i in range(100):
            reader, writer = await open_from(attackers[i % 4], server.port, request_head(VERIFY_PATH, server.port))
            writer.write(b"X-Slow: ")
            dribblers.append((HeaderDribbler(reader, writer), writer))
        for i in range(100):
            head = request_head(VERIFY_PATH, server.port, "Content-Type: application/json", "Content-Length: 16000")
            body_waiters.append(await open_from(attackers[i % 4], server.port, head + b"\r\n{"))

        # meanwhile the door opens: a signed verify answers, and its reply's signature verifies
        reply = await asyncio.wait_for(door.verify(challenge, code), VERIFY_ANSWER_TIMEOUT)
        assert reply.status_code == 200 and reply.json() == {"status": "success", "action": "unlock"}

        # every slow connection is closed by the server, the dribblers although they never went quiet
        closed = await asyncio.wait_for(
            asyncio.gather(
                *(closed_by_server(d.reader) for d, _ in dribblers), *(closed_by_server(r) for r, _ in body_waiters)
            ),
            CLOSE_TIMEOUT,
        )
        for reply_bytes in closed[: len(dribblers)]:  # a 408 in the API's error format, or nothing if a reset won
            if reply_bytes:
                assert reply_bytes.startswith(b"HTTP/1.1 408 ") and b'"error": "request_timeout"' in reply_bytes
        for dribbler, writer in dribblers:
            await dribbler.task
            writer.close()
        for _, writer in body_waiters:
            writer.close()

        # a clean shutdown waits for a slow body no longer than its deadline (uvicorn waits for
        # every request under way); the health reply shows the server has taken the slow one
        slow_reader, slow_writer = await open_from(attackers[0], server.port, head + b"\r\n{")
        assert (await door.http.get("/health")).status_code == 200
        assert await asyncio.to_thread(server.stop) in CLEAN_EXIT, server.output
        await asyncio.wait_for(closed_by_server(slow_reader), CLOSE_TIMEOUT)
        slow_writer.close()

    log = server.output
    assert "request header not complete within 2 s" in log and "request body not complete within 3 s" in log
    assert "Traceback" not in log  # a body cut off is not an application error
    assert secret not in log and not re.search(rf"\b{code}\b", log)


async def test_connections_beyond_the_caps_are_refused_without_hurting_established_ones(start_server):
    server = await start_server(MAX_CONNECTIONS="30", MAX_CONNECTIONS_PER_CLIENT="10", HEADER_TIMEOUT_SECONDS="120")
    door_id, secret = await add_door(server)
    key = bytes.fromhex(secret)

    def signed(path: str, payload: dict) -> tuple[bytes, str]:
        body = json.dumps(payload).encode()
        headers = httpsig.sign_request(key, door_id, "POST", path, body, int(time.time()), secrets.token_hex(16))
        lines = [f"{k}: {v}" for k, v in headers.items()]
        head = request_head(path, server.port, "Content-Type: application/json", f"Content-Length: {len(body)}", *lines)
        return head + b"\r\n" + body, headers["Signature"]

    async def read_reply(reader) -> tuple[int, dict, bytes]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLOSE_TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        fields = (line.split(": ", 1) for line in lines[1:] if line)
        headers = {name.lower(): value for name, value in fields}
        body = await reader.readexactly(int(headers["content-length"]))
        return int(lines[0].split()[1]), headers, body

    # the door's connection, established first: a code requested, then half of the verify sent
    door_reader, door_writer = await open_from(DOOR_ADDRESS, server.port)
    data, signature = signed(REQUEST_PATH, {"action": "unlock"})
    door_writer.write(data)
    status, headers, body = await read_reply(door_reader)
    assert status == 200 and httpsig.verify_reply(key, door_id, status, headers, body, signature)
    code = code_in((await asyncio.to_thread(server.sink.wait_for, 1))[0])
    verify, signature = signed(VERIFY_PATH, {"challenge_id": json.loads(body)["challenge_id"], "code": code})
    door_writer.write(verify[:40])

    # one client takes its 10; the 11th from it is refused with a 503
    held = [await open_from("127.0.0.1", server.port, b"POST / HTTP/1.1\r\n") for _ in range(10)]
    refused = await answer_to_new_connection("127.0.0.1", server.port)
    assert refused.startswith(b"HTTP/1.1 503 ") and b"too many connections from this address" in refused

    # others fill the server to its 30 (the door's one included); the next one is refused
    for i in range(19):
        held.append(await open_from(f"127.0.0.{21 + i // 10}", server.port, b"POST / HTTP/1.1\r\n"))
    refused = await answer_to_new_connection("127.0.0.99", server.port)
    assert refused.startswith(b"HTTP/1.1 503 ") and b'"error": "too_many_connections"' in refused
    assert b"server busy" in refused and b"retry-after: 1" in refused

    # the established connections are untouched: the door finishes its verify and is let in
    door_writer.write(verify[40:])
    status, headers, body = await read_reply(door_reader)
    assert status == 200 and json.loads(body) == {"status": "success", "action": "unlock"}
    assert httpsig.verify_reply(key, door_id, status, headers, body, signature)
    door_writer.close()
    for reader, writer in held:  # every connection taken before the cap was hit is still served
        writer.write(b"Host: x\r\nContent-Length: 0\r\n\r\n")
        status, _, _ = await read_reply(reader)
        assert status == 405  # POST / is not a route: an answer from the app, not a refusal

    # connections that close give their place back
    for _, writer in held:
        writer.close()
    async with door_client(server, door_id, secret, address="127.0.0.1") as door:
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while (reply := await door.request_code("lock", check_reply=False)).status_code == 503:
            assert time.monotonic() < deadline, "places were not given back"
            await asyncio.sleep(0.1)
        assert reply.status_code == 200 and door.reply_verifies(reply, door.last_request_headers)

    assert "connection refused: 10 open from this client already" in server.output
    assert "connection refused: 30 open in total already" in server.output
