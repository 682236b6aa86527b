"""Which database deadline a request runs under.

Every database operation carries the client's per-operation timeout (DB_OPERATION_TIMEOUT_MS,
5 s): the door's requests do small reads and writes by id, and a database that is stopped must
turn them into 503s, not hold them. The admin pages also read a lot at once (an audit export
of 100,000 events takes about 6 s in the embedded database on its own), so a request under
/admin runs under one deadline for the whole request instead (ADMIN_DB_DEADLINE_SECONDS),
which replaces the per-operation one: pymongo's `timeout()` block, a context variable, which
the route and the tasks it starts inherit."""

from __future__ import annotations

import pymongo

ADMIN_PREFIX = "/admin"
ADMIN_DB_DEADLINE_SECONDS = 120.0


class DatabaseDeadline:
    """Pure ASGI middleware (a context variable set here reaches the route)."""

    def __init__(
        self, app, *, long_prefixes: tuple[str, ...] = (ADMIN_PREFIX,), seconds: float = ADMIN_DB_DEADLINE_SECONDS
    ):
        self.app, self.long_prefixes, self.seconds = app, long_prefixes, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.long_prefixes):
            with pymongo.timeout(self.seconds):
                await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)
