"""Work that must not delay a reply, such as mailing a door's watchers: run as tasks of the
app's event loop, kept here so that none is lost to the garbage collector and the app can
wait for them when it stops. Each task does its own error handling and audit; one that fails
anyway is logged by the type of its error only (never a message that might hold an address)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, work: Coroutine) -> asyncio.Task:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("background work failed: %s", type(error).__name__)

    async def idle(self, timeout: float | None = None) -> None:
        """Returns when every task started so far (and any they started) has ended, or at the
        timeout, after which the rest are cancelled."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                return
            await asyncio.wait(set(self._tasks), timeout=left)
