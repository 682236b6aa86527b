"""The one database handle: AsyncMongoClient, collections and their indexes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartdoor.store.group_commit import GroupWriter

DB_NAME = "smart_door"


@dataclass
class Database:
    client: AsyncMongoClient
    db: AsyncDatabase
    _audit_writer: GroupWriter | None = field(default=None, repr=False)

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
            self._audit_writer = GroupWriter(self.audit)
        await self._audit_writer.write(events)

    async def ensure_indexes(self, *, audit_retention_days: int = 730) -> None:
        # create_index is idempotent: safe at every start-up
        await self.doors.create_index([("name", ASCENDING)], unique=True)
        await self.doors.create_index([("pending.expires_at", ASCENDING)])  # the expiry sweeper
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
        retention replaces the index."""
        name = "audit_retention"
        existing = {ix["name"]: ix async for ix in await self.audit.list_indexes()}
        if name in existing and existing[name].get("expireAfterSeconds") != seconds:
            await self.audit.drop_index(name)
        if "at_-1" in existing:  # the plain index on `at` the retention index replaces
            await self.audit.drop_index("at_-1")
        await self.audit.create_index([("at", DESCENDING)], name=name, expireAfterSeconds=seconds)

    async def close(self) -> None:
        await self.client.close()


def connect(uri: str, *, db_name: str = DB_NAME, timeout_ms: int = 2000, **client_options) -> Database:
    client: AsyncMongoClient = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
        w="majority" if "replicaSet=" in uri else 1,
        **client_options,
    )
    return Database(client=client, db=client[db_name])
