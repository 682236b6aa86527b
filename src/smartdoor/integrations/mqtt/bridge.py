"""The MQTT bridge: keeps Home Assistant's picture of every door right, and turns its lock
commands into remote commands. One task per backend process, of which one publishes at a time.

- **Who publishes.** Only the holder of the database lease (lease.py). The others wait and take
  over when it runs out, so several backend processes never connect at once with last wills
  of their own, and a command is queued once. Everything published is read from the database,
  so whichever process publishes publishes the same; a handover at worst sends a retained
  message again, which changes nothing.
- **When.** At connection: the backend's status `online` (its last will says `offline`), then
  every door's discovery configs and states. After that, what changed: at once for what this
  process audits (the audit tap wakes the bridge: state reports, unlocks, commands, removals),
  and within MQTT_REFRESH_SECONDS for what other processes did and for doors whose heartbeat
  went stale. Everything again when Home Assistant announces itself (`homeassistant/status` =
  `online`) and after every reconnect (a broker without persistence has forgotten it all).
- **Removed doors** get empty retained configs, so Home Assistant removes their entities; a door
  removed while no backend ran is found by its retained availability topic at the next start.
- **Losing things.** A broker that drops us: reconnect, waiting 1 s, doubling to 60 s. A
  database that cannot be read: `status` goes `offline` (Home Assistant then shows every door
  unavailable rather than a state that may be stale) until it can be read again.
- Never logged: the broker's password (Broker.__str__ leaves it out) and any message's payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Iterable

import aiomqtt
from bson import ObjectId
from pymongo.errors import PyMongoError

from smartdoor.doors.presence import is_online
from smartdoor.doors.service import deliverable_command
from smartdoor.integrations.mqtt import commands, entities, last_opened
from smartdoor.integrations.mqtt.broker import Broker
from smartdoor.integrations.mqtt.lease import Lease
from smartdoor.integrations.mqtt.topics import AVAILABILITY, COMMAND, TOPIC_SAFE, Topics

log = logging.getLogger(__name__)
FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS = 1.0, 60.0
KEEPALIVE_SECONDS = 30  # the broker sends our last will this long (×1.5) after we went silent
COALESCE_SECONDS = 0.2  # a burst of audit events makes one refresh
GOODBYE_SECONDS = 3.0  # at shutdown, the time given to say `offline` and hand the lease back
COMMANDS_PER_MINUTE = 10  # per door: more from the broker are dropped (each one is a database write and an event)
DOOR_FIELDS = {"name": 1, "state": 1, "state_at": 1, "door_open": 1, "firmware": 1, "command": 1, "remote_unlock": 1}


class LeaseLost(Exception):
    """Another process publishes now."""


class MqttBridge:
    def __init__(self, services, broker: Broker) -> None:
        settings = services.settings
        self.services, self.settings, self.broker = services, settings, broker
        self.topics = Topics(base=settings.mqtt_topic_prefix, discovery=settings.mqtt_discovery_prefix)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease = Lease(services.db, name=f"mqtt:{self.topics.base}", holder=self.holder,
                           seconds=settings.mqtt_lease_seconds)  # fmt: skip
        self.publishing = False  # connected and holding the lease (smartdoor_mqtt_publishing)
        self._wake = asyncio.Event()
        self._everything = False  # the next refresh republishes every message
        self._published: dict[str, str] = {}  # retained messages sent in this connection
        self._doors: set[str] = set()  # the doors published
        self._suspects: set[str] = set()  # doors the broker knows that we did not publish this time
        self._opened: dict[str, entities.LastOpened] = {}
        self._cursor: ObjectId | None = None  # where the audit is followed from (last_opened.cursor)
        self._commands: dict[str, deque] = {}  # per door: when its recent commands came (loop time)
        self._database_down = False
        self._had_connected = False
        self._unsafe_ids: set[str] = set()

    # --- the hooks the rest of the app calls ---------------------------------------------------

    def observe_audit(self, events: list[dict]) -> None:
        """The audit tap: an event about a door may change what Home Assistant should show."""
        if self.publishing and any(e.get("door") for e in events):
            self._wake.set()

    # --- the connection's life -----------------------------------------------------------------

    async def run(self) -> None:
        """Forever: wait for the lease, connect, publish, listen; reconnect after a failure."""
        who = self.broker.username or "no user name"
        log.info("Home Assistant over MQTT: broker %s (%s), topics %s/…", self.broker, who, self.topics.base)
        delay = FIRST_RETRY_SECONDS
        standing_by = False
        try:
            while True:
                _stop_if_cancelled()
                try:
                    if not await self.lease.acquire(now=self.services.clock.now()):
                        if not standing_by:
                            log.info("MQTT: another backend process publishes; this one stands by")
                            standing_by = True
                        await asyncio.sleep(self._lease_check_seconds)
                        continue
                    standing_by = False
                    await self._session()
                except LeaseLost:
                    log.info("MQTT: another backend process publishes now")
                except PyMongoError as failed:
                    log.warning("MQTT: the database cannot be read (%s); trying again", type(failed).__name__)
                    await asyncio.sleep(self._lease_check_seconds)
                except aiomqtt.MqttError as failed:
                    if self._had_connected:  # a connection that worked: the first retry comes soon
                        delay = FIRST_RETRY_SECONDS
                    log.warning("MQTT broker %s: %s; connecting again in %.0f s", self.broker, _reason(failed), delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, LONGEST_RETRY_SECONDS)
        finally:  # the app stops: hand the lease back (a session has said `offline` already)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(GOODBYE_SECONDS):
                    await self.lease.release()

    @property
    def _lease_check_seconds(self) -> float:
        return max(1.0, min(self.settings.mqtt_lease_seconds / 3, 10.0))

    def _client(self) -> aiomqtt.Client:
        broker = self.broker
        return aiomqtt.Client(
            broker.host, broker.port, username=broker.username, password=broker.password,
            identifier=f"smartdoor-{self.holder}".replace(":", "-")[:64],
            will=aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True),
            tls_context=broker.tls_context(self.settings.mqtt_ca_file), keepalive=KEEPALIVE_SECONDS, timeout=10,
            logger=logging.getLogger("smartdoor.integrations.mqtt.client"),
        )  # fmt: skip

    async def _session(self) -> None:
        """One connection, until it fails (MqttError), the lease is lost (LeaseLost) or the task
        is cancelled (the app stops: say `offline`, hand the lease back)."""
        self._had_connected = False
        async with self._client() as client:
            self.publishing = self._had_connected = True
            log.info("MQTT: connected to %s, publishing for Home Assistant", self.broker)
            try:
                await client.subscribe(
                    [(self.topics.ha_status, 1), (self.topics.commands, 1), (self.topics.availabilities, 1)]
                )
                self._published.clear()
                self._database_down = False
                try:  # the entities and their states first: `online` makes them available
                    await self._refresh(client, everything=True)
                except PyMongoError:
                    await client.publish(self.topics.status, "offline", qos=1, retain=True)
                    raise
                await client.publish(self.topics.status, "online", qos=1, retain=True)
                await _first_failure(self._listen(client), self._keep_fresh(client))
            except asyncio.CancelledError:
                await self._goodbye(client)
                raise
            finally:
                self.publishing = False

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A clean stop: `offline` first, then the lease, so a successor's `online` comes after."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(GOODBYE_SECONDS):
                await client.publish(self.topics.status, "offline", qos=1, retain=True)
                await self.lease.release()

    # --- what Home Assistant sends -------------------------------------------------------------

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            _stop_if_cancelled()
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
            if topic == self.topics.ha_status:
                if payload == b"online" and not message.retain:  # a retained one: we have just published all
                    self._everything = True
                    self._wake.set()
            elif door_id := self.topics.door_in(topic, COMMAND):
                await self._command(door_id, payload, retained=message.retain)
            elif (door_id := self.topics.door_in(topic, AVAILABILITY)) and payload and door_id not in self._doors:
                self._suspects.add(door_id)  # retained from an earlier run: removed since?
                self._wake.set()
            _stop_if_cancelled()  # before waiting for the next message

    async def _command(self, door_id: str, payload: bytes, *, retained: bool) -> None:
        loop = asyncio.get_running_loop()
        recent = self._commands.setdefault(door_id, deque(maxlen=COMMANDS_PER_MINUTE))
        if len(recent) == COMMANDS_PER_MINUTE and loop.time() - recent[0] < 60:
            log.warning("MQTT: more than %d commands a minute for door %s: dropped", COMMANDS_PER_MINUTE, door_id)
            return
        recent.append(loop.time())
        try:
            await commands.carry_out(
                self.services, door_id=door_id, payload=payload, retained=retained,
                allow_unlock=self.settings.mqtt_allow_unlock,
            )  # fmt: skip
        except PyMongoError as failed:  # Home Assistant's lock shows no change: the user can try again
            log.warning("MQTT: a command for door %s was not queued: %s", door_id, type(failed).__name__)
        self._wake.set()  # LOCKING / UNLOCKING, or the state as it was after a refusal

    # --- what Home Assistant is told -----------------------------------------------------------

    async def _keep_fresh(self, client: aiomqtt.Client) -> None:
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + self._lease_check_seconds
        while True:
            _stop_if_cancelled()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.mqtt_refresh_seconds):
                    await self._wake.wait()
            await asyncio.sleep(COALESCE_SECONDS)
            self._wake.clear()
            try:
                if loop.time() >= renew_at or self._database_down:
                    if not await self.lease.acquire(now=self.services.clock.now()):
                        raise LeaseLost
                    renew_at = loop.time() + self._lease_check_seconds
                everything, self._everything = self._everything or self._database_down, False
                await self._refresh(client, everything=everything)
            except PyMongoError as failed:
                if not self._database_down:
                    log.warning("MQTT: the database cannot be read (%s): Home Assistant is told the backend "
                                "is offline", type(failed).__name__)  # fmt: skip
                    self._database_down = True
                    await client.publish(self.topics.status, "offline", qos=1, retain=True)
                continue
            if self._database_down:
                self._database_down = False
                await client.publish(self.topics.status, "online", qos=1, retain=True)

    async def _refresh(self, client: aiomqtt.Client, *, everything: bool) -> None:
        """Reads the doors and their last openings, publishes what differs from what was sent."""
        now = self.services.clock.now()
        db = self.services.db
        found = [d for d in await db.doors.find({}, DOOR_FIELDS).to_list() if self._topic_safe(d["_id"])]
        await self._follow_openings([d["_id"] for d in found])
        wanted: dict[str, str] = {}
        names = self.settings.mqtt_person_names
        ttl = self.settings.remote_command_ttl_seconds
        for door in found:
            waiting = deliverable_command(door, now=now, ttl_seconds=ttl)
            view = entities.DoorView.of(door, online=is_online(door, now=now),
                                        pending_action=waiting["action"] if waiting else None)  # fmt: skip
            wanted |= entities.discovery(view, self.topics)
            wanted |= entities.states(view, self._opened.get(view.id), self.topics, names=names)
        present = {d["_id"] for d in found}
        gone = (self._doors | self._suspects) - present
        for door_id in gone:
            wanted |= entities.removal(door_id, self.topics)
            self._opened.pop(door_id, None)
        for topic, payload in wanted.items():
            if everything or self._published.get(topic) != payload:
                await client.publish(topic, payload, qos=1, retain=True)
                self._published[topic] = payload
        for door_id in gone:  # a door made again later is published anew
            for topic in entities.removal(door_id, self.topics):
                self._published.pop(topic, None)
        self._doors, self._suspects = present, set()

    async def _follow_openings(self, door_ids: Iterable[str]) -> None:
        db = self.services.db
        if self._cursor is None:
            cursor = last_opened.cursor()
            self._opened = await last_opened.latest(db, door_ids)
            self._cursor = cursor
            return
        cursor = last_opened.cursor()
        for door_id, opened in await last_opened.since(db, self._cursor):
            known = self._opened.get(door_id)
            if known is None or opened.at >= known.at:
                self._opened[door_id] = opened
        self._cursor = cursor

    def _topic_safe(self, door_id: str) -> bool:
        if TOPIC_SAFE.match(door_id):
            return True
        if door_id not in self._unsafe_ids:
            self._unsafe_ids.add(door_id)
            log.warning("MQTT: door %r is left out: its id cannot be part of a topic", door_id[:80])
        return False


def _stop_if_cancelled() -> None:
    """Raises CancelledError when this task was asked to stop and the request got lost: on Python
    3.11, asyncio.wait_for (inside aiomqtt's publish and pymongo's reads) returns the result of an
    awaitable that completes as the cancellation arrives, and the next wait would then wait for
    ever (the app's shutdown hung on it). The task still counts the request; every loop here
    looks before it waits again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _first_failure(*work) -> None:
    """Runs the coroutines together until the first of them ends or fails; cancels the rest and
    raises what it raised."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()


def _reason(failed: aiomqtt.MqttError) -> str:
    """What went wrong, in words that never hold a password (aiomqtt's messages hold a reason
    code or the socket's error)."""
    return str(failed)[:200] or type(failed).__name__
