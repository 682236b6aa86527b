"""Group commit for an append-only collection: documents written by concurrent requests go to
the database in one insert_many. Each caller still waits until its own documents are stored
(or gets the error), so nothing is acknowledged before it is written; under load the database
sees one command where it would see one per request.

A document already stored under its `_id` counts as written: the ids are made here, so it can
only be this very document, stored by an attempt whose reply was lost (the database killed
after the write; the client's retry then finds it). The insert is unordered so that such a
document does not stop the ones after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


class GroupWriter:
    def __init__(self, collection: Callable[[], AsyncCollection]) -> None:
        # asked for at every insert: the database handle may have moved to a new client
        self._collection = collection
        self._queue: list[tuple[list[dict], asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None

    async def write(self, docs: list[dict]) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queue.append((docs, done))
        if self._drainer is None or self._drainer.done():
            # a task of its own: a caller that goes away must not cancel the others' write
            self._drainer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await _insert_all(self._collection(), [d for docs, _ in batch for d in docs])
            except Exception as exc:  # each caller gets the error, as it would from its own insert
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


async def _insert_all(collection: AsyncCollection, docs: list[dict]) -> None:
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as failed:
        errors = failed.details.get("writeErrors", [])
        stored_before = all(e.get("code") == DUPLICATE_KEY and e.get("keyPattern") == {"_id": 1} for e in errors)
        if not errors or not stored_before or failed.details.get("writeConcernErrors"):
            raise
