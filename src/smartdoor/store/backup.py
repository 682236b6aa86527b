"""Backup and restore of everything the app keeps, as gzip'd JSON lines of BSON extended JSON.

The file: one header line (format version, time, app version, how consistent the snapshot is,
the id of the SECRET_KEY the door secrets are sealed under), then one line per document
(`{"collection": …, "document": …}`, canonical extended JSON so every BSON type comes back as
it was), then one end line with the number of documents of each collection, so a cut-off file is
recognised before anything is restored. It is written to a temporary file created 0600 and
renamed into place: it holds sealed door secrets and personal data.

Consistency. Every collection is read inside one read-only transaction with snapshot read
concern: the backup is the database as it was at one moment, across all collections, while the
server keeps working (the embedded SecantusDB pins one WiredTiger snapshot for a transaction; a
MongoDB replica set does the same). Where transactions are not available (a standalone MongoDB)
or the snapshot cannot be held to the end (MongoDB aborts a transaction after 60 s by default),
the backup is made again collection by collection, and the header says "per-collection": each
document is then as it was at some moment during the backup; an audit event or a door change
made meanwhile may be in it or not.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure
from pymongo.read_concern import ReadConcern

from smartdoor.store.database import Database

log = logging.getLogger("smartdoor.store")

FORMAT = "smartdoor-backup"
FORMAT_VERSION = 1
# not backed up: what is only worth something for minutes and would be wrong after a restore
NOT_BACKED_UP = {
    "nonces",  # the replay ledger: kept a little longer than the 300 s signature window
    "admin_sessions",  # admin logins (hours at most): after a restore everybody logs in again
    "login_limits",  # login throttles (minutes)
}
SEALED_NOTE = (
    "Door secrets, code keys and offline credentials in this file are sealed (AES-GCM) under keys "
    "derived from SECRET_KEY (key_id names it): a restore needs the same SECRET_KEY. People (with their "
    "password hashes and passkeys) and the audit are not encrypted: keep this file as private as the database."
)
INSERT_BATCH = 500
# datetimes come back aware (UTC), as the app's client reads them
READ_OPTIONS = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)


class BackupError(RuntimeError):
    """The backup file cannot be made or used; the message says why in one line."""


@dataclass
class BackupSummary:
    path: Path
    consistency: str  # "snapshot" or "per-collection"
    counts: dict[str, int] = field(default_factory=dict)


async def backed_up_collections(db: Database) -> list[str]:
    names = await db.db.list_collection_names()
    return sorted(n for n in names if n not in NOT_BACKED_UP and not n.startswith("system."))


async def write_backup(db: Database, path: Path, *, now: datetime, app_version: str, key_id: str) -> BackupSummary:
    """Writes the backup to path (replacing a file there only once the new one is complete)."""
    names = await backed_up_collections(db)  # listCollections is not allowed inside a transaction
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": now,
        "app_version": app_version,
        "database": db.db.name,
        "key_id": key_id,
        "note": SEALED_NOTE,
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            counts = await _write(db, temporary, names, {**header, "consistency": "snapshot"}, snapshot=True)
            consistency = "snapshot"
        except OperationFailure as exc:  # no transactions here, or the snapshot was not kept to the end
            log.warning("backup: no snapshot across collections (%s); reading collection by collection", exc.code)
            counts = await _write(db, temporary, names, {**header, "consistency": "per-collection"}, snapshot=False)
            consistency = "per-collection"
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return BackupSummary(path=path, consistency=consistency, counts=counts)


async def _write(db: Database, path: Path, names: list[str], header: dict, *, snapshot: bool) -> dict[str, int]:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    try:  # 0600 from its first byte; never through a symlink planted in its place
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}") from None
    counts = dict.fromkeys(names, 0)
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="") as out:
        out.write(_line(header))
        async with _reading(db, snapshot=snapshot) as session:
            for name in names:
                async for document in db.db[name].find({}, session=session).sort("_id", 1):
                    out.write(_line({"collection": name, "document": document}))
                    counts[name] += 1
        out.write(_line({"end": counts}))
        out.flush()
        raw.flush()
        os.fsync(raw.fileno())
    return counts


@contextlib.asynccontextmanager
async def _reading(db: Database, *, snapshot: bool) -> AsyncIterator[AsyncClientSession | None]:
    if not snapshot:
        yield None
        return
    async with db.client.start_session() as session:
        await session.start_transaction(read_concern=ReadConcern("snapshot"))
        try:
            yield session
        finally:  # it only read: nothing to commit
            with contextlib.suppress(OperationFailure):
                await session.abort_transaction()


def _line(value: dict) -> bytes:
    return json_util.dumps(value, json_options=CANONICAL_JSON_OPTIONS).encode() + b"\n"


# --- restore ---


@dataclass
class Backup:
    """A backup file that has been read to its end line and found whole."""

    path: Path
    header: dict
    counts: dict[str, int]

    def documents(self) -> Iterator[tuple[str, dict]]:
        for record in _records(self.path):
            if "collection" in record:
                yield record["collection"], record["document"]


def read_backup(path: Path) -> Backup:
    """Reads the whole file once: a file of another format, a newer version, a damaged or
    cut-off one is refused before anything is restored."""
    header: dict | None = None
    counts: dict[str, int] = {}
    end: dict | None = None
    try:
        for index, record in enumerate(_records(path)):
            if index == 0:
                header = record
                if header.get("format") != FORMAT:
                    raise BackupError(f"{path} is not a Smart Door backup")
                if header.get("version") != FORMAT_VERSION:
                    raise BackupError(
                        f"{path} is a backup of format version {header.get('version')}; "
                        f"this version of smartdoor reads version {FORMAT_VERSION}"
                    )
            elif end is not None:
                raise BackupError(f"{path} goes on after its end line: damaged")
            elif "end" in record:
                end = record["end"]
            elif isinstance(record.get("collection"), str) and isinstance(record.get("document"), dict):
                counts[record["collection"]] = counts.get(record["collection"], 0) + 1
            else:
                raise BackupError(f"{path}: line {index + 1} is not a document of a collection")
    except (OSError, EOFError, ValueError, gzip.BadGzipFile) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    if header is None:
        raise BackupError(f"{path} is empty")
    if end is None:
        raise BackupError(f"{path} is cut off (no end line): the backup was not complete")
    if {k: v for k, v in end.items() if v} != counts:
        raise BackupError(f"{path} holds other documents than its end line counts: damaged")
    return Backup(path=path, header=header, counts=counts)


def _records(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rb") as lines:
        for raw in lines:
            value = json_util.loads(raw, json_options=READ_OPTIONS)
            if not isinstance(value, dict):
                raise ValueError("a line is not a JSON object")
            yield value


async def documents_in(db: Database) -> dict[str, int]:
    """Collections of the database that hold documents, with their counts."""
    counts = {}
    for name in await db.db.list_collection_names():
        if not name.startswith("system.") and (n := await db.db[name].estimated_document_count()):
            counts[name] = n
    return counts


async def restore(db: Database, backup: Backup, *, replace: bool) -> dict[str, int]:
    """Inserts every document of the backup. The caller has checked that the database is empty,
    or asked to replace what it holds (replace: every collection is emptied first; indexes stay)."""
    if replace:
        for name in await db.db.list_collection_names():
            if not name.startswith("system."):
                await db.db[name].delete_many({})
    restored: dict[str, int] = {}
    batch: list[dict] = []
    current: str | None = None
    for name, document in backup.documents():
        if name != current or len(batch) >= INSERT_BATCH:
            await _insert(db, current, batch)
            batch, current = [], name
        batch.append(document)
        restored[name] = restored.get(name, 0) + 1
    await _insert(db, current, batch)
    return restored


async def _insert(db: Database, name: str | None, batch: list[dict]) -> None:
    if name is not None and batch:
        await db.db[name].insert_many(batch, ordered=True)


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "nothing"


def header_summary(header: dict) -> str:
    made = header.get("created_at")
    when = made.isoformat() if isinstance(made, datetime) else str(made)
    return f"made {when} by smartdoor {header.get('app_version')} ({header.get('consistency')})"
