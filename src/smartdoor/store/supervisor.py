"""Keeps the embedded database running for as long as the process that uses it runs.

A door's backend runs for years on a small machine: the database process can be killed (the
kernel's OOM killer, an operator's mistake, a crash). The supervisor notices within
POLL_SECONDS and starts it again through embedded.start_or_share, on the same port when it is
free, so the app's client reconnects by itself; on a new port the app's Database handle is
switched to a new client (Database.reconnect). Meanwhile requests get 503 with Retry-After.
embedded-db.json names the new process as soon as it accepts connections.

A database that dies again soon after its start is restarted after a growing wait
(RestartBackoff): one that crashes at once every time costs a start a minute, not a busy loop.

The same holds for a database that this process only shares: when the process that owned it
ends (a CLI command that had started it, say), this one takes over and starts its own.

A database that is stopped (SIGSTOP) but alive is left alone: it is answered by client
timeouts (503s) and serves again when it continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from smartdoor.store import embedded
from smartdoor.store.database import Database
from smartdoor.store.embedded import EmbeddedDatabaseError, EmbeddedServer

log = logging.getLogger("smartdoor.store")

POLL_SECONDS = 0.5


class RestartBackoff:
    """How long to wait before starting the database again.

    A database that ran at least `healthy_after` seconds is restarted at once; each further
    failure (a death sooner than that, or a start that failed) doubles the wait, from `first`
    up to `longest`."""

    def __init__(self, *, first: float = 1.0, longest: float = 60.0, healthy_after: float = 60.0) -> None:
        self.first, self.longest, self.healthy_after = first, longest, healthy_after
        self.failures = 0

    def after_death(self, *, ran_for: float) -> float:
        if ran_for >= self.healthy_after:
            self.failures = 0
            return 0.0
        return self._next()

    def after_failed_start(self) -> float:
        return self._next()

    def _next(self) -> float:
        self.failures += 1
        return min(self.first * 2 ** (self.failures - 1), self.longest)


Starter = Callable[[int], Awaitable[EmbeddedServer]]


class DatabaseSupervisor:
    """Watches `server` and brings the database back when its process is gone; `server` is
    always the current one (open_database stops it at the end)."""

    def __init__(
        self,
        *,
        server: EmbeddedServer,
        db: Database,
        start: Starter | None = None,
        cache_mb: int = embedded.DEFAULT_CACHE_MB,
        backoff: RestartBackoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.server = server
        self.db = db
        self.restarts = 0
        self._start = start or partial(_start_in_thread, server.data_dir, cache_mb=cache_mb)
        self._backoff = backoff or RestartBackoff()
        self._monotonic, self._sleep, self._poll = monotonic, sleep, poll_seconds
        self._started_at = monotonic()

    async def run(self) -> None:
        while True:
            while self.server.alive():
                await self._sleep(self._poll)
            await self._replace()

    async def _replace(self) -> None:
        gone = self.server
        ran_for = self._monotonic() - self._started_at
        how = gone.exit_description() if gone.owned else "its owner ended it"
        log.error("embedded database (pid %s, port %d) is gone (%s) after %.0f s", gone.pid, gone.port, how, ran_for)
        gone.forget()  # nobody is to share a dead process meanwhile (and the start below need not distrust it)
        delay = self._backoff.after_death(ran_for=ran_for)
        while True:
            if delay:
                log.warning("starting the embedded database again in %.0f s", delay)
                await self._sleep(delay)
            try:
                server = await self._start(gone.port)
            except EmbeddedDatabaseError as exc:
                log.error("%s", exc)
                delay = self._backoff.after_failed_start()
                continue
            break
        if server.port != gone.port:
            await self.db.reconnect(server.uri)
        self.server, self._started_at = server, self._monotonic()
        self.restarts += 1
        log.warning(
            "embedded database %s again: pid %s, port %d%s",
            "running" if server.owned else "shared",
            server.pid,
            server.port,
            "" if server.port == gone.port else " (a new port: the app reconnected)",
        )


async def _start_in_thread(data_dir, preferred_port: int, *, cache_mb: int) -> EmbeddedServer:
    """start_or_share blocks (a provisioning child process, then waiting for the port): in a
    thread, so the app keeps answering (503s) meanwhile. If the app shuts down during a start,
    the start is waited for and the database it started is stopped: nothing is left running."""
    start = partial(embedded.start_or_share, data_dir, preferred_port=preferred_port, cache_mb=cache_mb)
    job = asyncio.ensure_future(asyncio.to_thread(start))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            (await job).stop()
        raise
