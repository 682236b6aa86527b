"""The one database handle: AsyncMongoClient, collections and their indexes.

The handle outlives its client: when the embedded database comes back on another port
(store.supervisor), `reconnect()` swaps in a client for the new address. Every request reads
`db.client` / `db.<collection>` when it issues an operation, so operations after the swap go to
the new database; an operation already under way on the old client fails as any operation on a
dead server does (a connection error: 503 with Retry-After). The old client is closed only
after RETIRED_CLIENT_GRACE_SECONDS, when no such operation can still be waiting on it: an
operation on a closed client raises InvalidOperation, which would be an application error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartdoor.store.group_commit import GroupWriter

DB_NAME = "smart_door"
# longer than any operation can wait on a dead server (server selection, connect and socket
# timeouts are seconds); a retired client is closed after this
RETIRED_CLIENT_GRACE_SECONDS = 60.0
# a whole operation (server selection, retries, reply) that takes longer than this fails with a
# timeout error (503) instead of holding the request while the database is stopped, not dead;
# well above the embedded database's slowest replies under load. 0: no limit.
DEFAULT_OPERATION_TIMEOUT_MS = 5000


@dataclass
class Database:
    client: AsyncMongoClient
    db: AsyncDatabase
    _audit_writer: GroupWriter | None = field(default=None, repr=False)
    _client_options: dict = field(default_factory=dict, repr=False)
    _retiring: set[asyncio.Task] = field(default_factory=set, repr=False)

    @property
    def doors(self) -> AsyncCollection:
        return self.db["doors"]

    @property
    def nonces(self) -> AsyncCollection:
        return self.db["nonces"]

    @property
    def people(self) -> AsyncCollection:
        return self.db["people"]

    @property
    def grants(self) -> AsyncCollection:
        return self.db["grants"]

    @property
    def offline_uses(self) -> AsyncCollection:
        return self.db["offline_uses"]

    @property
    def audit(self) -> AsyncCollection:
        return self.db["audit"]

    @property
    def audit_days(self) -> AsyncCollection:  # settled days' event counts, for the charts (audit.day_counts)
        return self.db["audit_days"]

    # the admin web app's (smartdoor.admin)
    @property
    def admin_sessions(self) -> AsyncCollection:
        return self.db["admin_sessions"]

    @property
    def login_limits(self) -> AsyncCollection:
        return self.db["login_limits"]

    @property
    def setup_links(self) -> AsyncCollection:
        return self.db["setup_links"]

    @property
    def passkeys(self) -> AsyncCollection:
        return self.db["passkeys"]

    # told of the audit events this process has written (smartdoor.integrations: metrics, MQTT);
    # called by audit.service.record_many after the write, must not block or raise
    audit_taps: list[Callable[[list[dict]], None]] = field(default_factory=list, repr=False)

    async def append_audit(self, events: list[dict]) -> None:
        if self._audit_writer is None:
            self._audit_writer = GroupWriter(lambda: self.audit)  # the current client's, after a reconnect too
        await self._audit_writer.write(events)

    async def ensure_indexes(self, *, audit_retention_days: int = 730) -> None:
        # create_index is idempotent: safe at every start-up
        await self.doors.create_index([("name", ASCENDING)], unique=True)
        await self.doors.create_index([("pending.expires_at", ASCENDING)])  # the expiry sweeper
        # doors online (/metrics) and newly silent (the offline watcher): without it each look
        # read every door, under the embedded database's global lock
        await self.doors.create_index([("state_at", ASCENDING)])
        await self.people.create_index([("email", ASCENDING)], unique=True)
        await self.people.create_index([("keypad", ASCENDING)], unique=True)
        await self.grants.create_index([("person", ASCENDING), ("door", ASCENDING)])
        await self.grants.create_index([("door", ASCENDING)])
        # TTL only cleans up; every query checks expiry itself
        await self.nonces.create_index([("purge_at", ASCENDING)], expireAfterSeconds=0)
        await self.audit.create_index([("door", ASCENDING), ("at", DESCENDING)])
        await self.audit.create_index([("person", ASCENDING), ("at", DESCENDING)])  # a member's own history
        await self.admin_sessions.create_index([("person", ASCENDING)])  # "log out everywhere"
        for expiring in (self.admin_sessions, self.login_limits, self.setup_links):
            await expiring.create_index([("purge_at", ASCENDING)], expireAfterSeconds=0)
        await self.passkeys.create_index([("person", ASCENDING)])
        await self._audit_retention(audit_retention_days * 86400)
        await self._upgrade_records()

    async def _upgrade_records(self) -> None:
        """Records written by earlier versions: a door's pending code used to live in its own
        collection (the door kept only its id and action). Such a code cannot be checked
        here; it is dropped (codes live two minutes) and the door is asked for a new one."""
        await self.doors.update_many(
            {"pending.id": {"$exists": True}, "pending.code_hash": {"$exists": False}}, {"$set": {"pending": None}}
        )

    async def _audit_retention(self, seconds: int) -> None:
        """Audit events older than the retention are purged by a TTL index on `at`; a changed
        retention replaces the index. The record of an uploaded offline use (which only stops
        the same upload from counting twice) goes with its audit event."""
        await _retention_index(self.audit, "audit_retention", seconds, replaces="at_-1")
        await _retention_index(self.offline_uses, "offline_use_retention", seconds)

    async def reconnect(self, uri: str, *, grace_seconds: float | None = None) -> None:
        """Point this handle at the database at uri (same database name, same client options).
        The old client is closed after grace_seconds (default: RETIRED_CLIENT_GRACE_SECONDS, and
        at least twice the operation timeout, so no operation can still be running on it)."""
        if grace_seconds is None:
            grace_seconds = max(RETIRED_CLIENT_GRACE_SECONDS, 2 * (self._client_options.get("timeoutMS") or 0) / 1000)
        old = self.client
        client = _client(uri, **self._client_options)
        # no await between the two: no request sees a client of one and a database of the other
        self.client, self.db = client, client[self.db.name]
        task = asyncio.create_task(_close_later(old, grace_seconds))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in list(self._retiring):  # closes the retired clients now
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()


async def _retention_index(
    collection: AsyncCollection, name: str, seconds: int, *, replaces: str | None = None
) -> None:
    """A TTL index on `at`: the database purges what is older than seconds (its sweep runs
    every minute); a changed retention replaces the index."""
    existing = {ix["name"]: ix async for ix in await collection.list_indexes()}
    if name in existing and existing[name].get("expireAfterSeconds") != seconds:
        await collection.drop_index(name)
    if replaces is not None and replaces in existing:  # a plain index on `at` the retention index replaces
        await collection.drop_index(replaces)
    await collection.create_index([("at", DESCENDING)], name=name, expireAfterSeconds=seconds)


async def _close_later(client: AsyncMongoClient, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        await client.close()


def _client(uri: str, **options) -> AsyncMongoClient:
    return AsyncMongoClient(uri, tz_aware=True, w="majority" if "replicaSet=" in uri else 1, **options)


# Journaled writes (write concern j: true): a write is acknowledged only once the database's
# journal holds it on disk, so a reply that says a code was used, an attempt counted or an event
# audited survives a kill of the database or a power cut. Every write the app makes carries such
# a promise to someone (a used code, a counted attempt, an audit event, a used set-up link, a
# logout), so the whole client journals; the door's busy path is the same writes either way.
# SecantusDB honours j: true per write (the commit syncs its log) without --sync-on-commit, which
# would sync every commit, its own bookkeeping included; concurrent journaled commits share one
# sync, and the audit's group commit (store.group_commit) makes one insert of many requests'
# events. The cost, measured: bench/RESULTS.md.


MONITOR_TIMEOUT_MS = 10_000
# A pooled connection idle this long is closed by the client. SecantusDB closes a connection idle
# for 5 minutes (store.embedded_process.CLIENT_IDLE_TIMEOUT_S), and the pool keeps every
# connection a burst opened: the next write on one it had closed failed (AutoReconnect, a 503 for
# a door, two in a 30-minute soak, 5 minutes after a database pause). Firewalls and proxies in
# front of a MONGO_URL drop idle connections the same way.
MAX_IDLE_MS = 60_000


def connect(
    uri: str,
    *,
    db_name: str = DB_NAME,
    timeout_ms: int = 2000,
    operation_timeout_ms: int = DEFAULT_OPERATION_TIMEOUT_MS,
    journal: bool = True,
    **client_options,
) -> Database:
    options = {
        "journal": journal,
        "serverSelectionTimeoutMS": timeout_ms,
        # also the monitor's heartbeat timeout: a heartbeat that times out makes pymongo interrupt
        # every operation in flight and retry the writes among them, which a busy database may
        # already have applied (a used code then answers 410 to the request that used it). A
        # dead or restarted database refuses at once, so only an overloaded one waits this long.
        "connectTimeoutMS": max(timeout_ms, MONITOR_TIMEOUT_MS),
        # pymongo's client-side operation timeout: it bounds retries too (a socket timeout
        # alone is paid once per retry), and it applies to a cursor's whole life
        "timeoutMS": operation_timeout_ms or None,
        "maxIdleTimeMS": MAX_IDLE_MS,
        **client_options,
    }
    client = _client(uri, **options)
    return Database(client=client, db=client[db_name], _client_options=options)
