"""A real MQTT broker for the tests (Debian's mosquitto, installed by scripts/setup.sh --test) on
a free loopback port, with a password file and no anonymous access; and a Home Assistant
stand-in that subscribes to everything and keeps what it got."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiomqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
USER = "smartdoor"
HA_USER = "homeassistant"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """mosquitto in its own process. No persistence: a restart forgets every retained message,
    as a broker without a persistence file does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.password = "door-" + secrets.token_hex(12)
        self.ha_password = "ha-" + secrets.token_hex(12)
        self.process: subprocess.Popen | None = None
        passwords = folder / "passwords"
        for n, (user, password) in enumerate(((USER, self.password), (HA_USER, self.ha_password))):
            flags = ["-b", "-c"] if n == 0 else ["-b"]
            subprocess.run([MOSQUITTO_PASSWD, *flags, str(passwords), user, password], check=True, capture_output=True)
        passwords.chmod(0o600)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence false\n"
            f"user {getpass.getuser()}\n"  # as root, mosquitto would switch to a user that cannot read the file
            "sys_interval 1\n"
            f"log_dest file {folder / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        )

    def url(self, password: str | None = None) -> str:
        return f"mqtt://{USER}:{password or self.password}@127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.process.stderr.read().decode() if self.process.stderr else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text() if path.exists() else ""


class HomeAssistant:
    """Subscribes to the discovery and the smartdoor topics (and the broker's client count) and
    records every message; publishes like Home Assistant does (its birth, lock commands)."""

    def __init__(self, broker: Mosquitto, *, topics=("homeassistant/#", "smartdoor/#")) -> None:
        self.broker, self.topics = broker, topics
        self.messages: list[tuple[str, str, bool]] = []  # (topic, payload, retained)
        self.latest: dict[str, str] = {}
        self._changed = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> HomeAssistant:
        self.client = aiomqtt.Client("127.0.0.1", self.broker.port, username=HA_USER, password=self.broker.ha_password,
                                     identifier="ha-" + secrets.token_hex(4))  # fmt: skip
        await self._stack.enter_async_context(self.client)
        await self.client.subscribe([(topic, 1) for topic in (*self.topics, "$SYS/broker/clients/connected")])
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self._reader
        with contextlib.suppress(aiomqtt.MqttError):
            await self._stack.aclose()

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in self.client.messages:
                payload = bytes(message.payload).decode() if message.payload else ""
                topic = message.topic.value
                self.messages.append((topic, payload, bool(message.retain)))
                self.latest[topic] = payload
                self._changed.set()

    async def wait_for(self, check, timeout: float = 30.0, what: str = ""):
        """Waits until check() is true (a generous bound, not a timing assertion)."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()  # before the check: a message in between sets it again
                if result := check():
                    return result
                await self._changed.wait()

    async def wait_value(self, topic: str, payload: str, timeout: float = 30.0) -> None:
        try:
            await self.wait_for(lambda: self.latest.get(topic) == payload, timeout)
        except TimeoutError:
            raise AssertionError(f"{topic} is {self.latest.get(topic)!r}, not {payload!r}") from None

    def config(self, topic: str) -> dict:
        return json.loads(self.latest[topic])

    def count(self, topic: str) -> int:
        return sum(1 for t, _, _ in self.messages if t == topic)

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)

    async def retained(self) -> dict[str, str]:
        """What the broker keeps now, as a client connecting now gets it."""
        async with HomeAssistant(self.broker, topics=self.topics) as fresh:
            marker = "smartdoor-test/marker/" + secrets.token_hex(4)
            await fresh.client.subscribe(marker, qos=1)
            await fresh.publish(marker, "x")  # delivered after the retained messages of the earlier subscription
            await fresh.wait_for(lambda: marker in fresh.latest)
            return {t: p for t, p, retained in fresh.messages if retained}
