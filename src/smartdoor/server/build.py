"""The one place the HTTP server is built, so `smartdoor serve`, the demo and the benchmark run
the same server with the same limits.

Why uvicorn with a protocol of our own: no server at hand has all three defences. uvicorn has
no header or body deadline (its keep-alive timeout only runs between requests) and its
`limit_concurrency` answers 503 to the *legitimate* requests once slow clients hold the
connections. hypercorn's keep-alive timer doubles as a header deadline, but its body timeout is
an idle read timeout (a body sent one byte a second is never cut) and it has no connection cap.
granian's header timeout starts at the first byte (a connection that sends nothing stays), it has
no body deadline and no connection cap. So: uvicorn's h11 protocol, subclassed (protocol.py)."""

from __future__ import annotations

import contextlib
import logging
import resource
from collections.abc import Callable

import uvicorn

from smartdoor.server.admission import ConnectionLimits
from smartdoor.server.protocol import MAX_LINGERING, ConnectionGuard, GuardedH11Protocol
from smartdoor.settings import Settings

log = logging.getLogger("uvicorn.error")

# open files the process needs besides client connections: the database pool, the mail client,
# log files, the listening socket
DESCRIPTOR_RESERVE = 256
STARTUP_FAILURE = 3  # uvicorn's exit status when the server could not start


def build_server(
    app,
    settings: Settings,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    server_factory: Callable[[uvicorn.Config], uvicorn.Server] = uvicorn.Server,
) -> uvicorn.Server:
    """The server for `app`, with the deadlines and connection caps of `settings`. Run it with
    run_server(), its own run(), or serve(sockets=…) on a socket of your own."""
    limits = ConnectionLimits.from_settings(settings)
    make_room_for(limits.max_connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=GuardedH11Protocol.bound_to(ConnectionGuard(limits)),
        ws="none",  # no WebSocket routes; an upgrade would hand the socket to a protocol without the guard
    )
    return server_factory(config)


def run_server(server: uvicorn.Server) -> None:
    """Serve until Ctrl-C or SIGTERM, then shut down cleanly, as `uvicorn.run()` does."""
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def make_room_for(max_connections: int) -> None:
    """Raise this process's soft limit on open files so MAX_CONNECTIONS can be reached: past the
    limit, accept() fails and every new client is turned away, the very outage the cap is there
    to prevent. Debian's default soft limit (1024) fits the default cap already."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + MAX_LINGERING + DESCRIPTOR_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        log.warning(
            "MAX_CONNECTIONS=%d needs about %d open files, but this process may open %d: lower MAX_CONNECTIONS "
            "or raise the limit (ulimit -n)",
            max_connections,
            needed,
            hard,
        )
        needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
