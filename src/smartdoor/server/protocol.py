"""uvicorn's h11 protocol, plus what uvicorn lacks against slow and many clients: a total deadline
for a request's header and one for its body, and a cap on connections in total and per client.

The deadlines are *total*, not idle timeouts: a client that sends one byte a second keeps an idle
timer from ever firing, so each phase gets a fixed time from its start. The phase is read from
h11's view of the client (`their_state`): IDLE = waiting for a request header (from the moment
the connection opened or the previous reply was sent), SEND_BODY = header done, body under way.
While the app works on a complete request no deadline runs: slowness there is ours, not the
client's."""

from __future__ import annotations

import asyncio
import collections
import http
import json
import logging
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from smartdoor.server.admission import ConnectionLedger, ConnectionLimits, client_key

# uvicorn's own logger: these lines then follow `--log-level` and uvicorn's format
log = logging.getLogger("uvicorn.error")

HEADER, BODY = "header", "body"
# how long a refused connection stays open after its 503, so the client reads the reply instead
# of a reset (closing a socket with unread input makes the kernel send RST); at most this many at
# once, since each holds a file descriptor: in a flood the rest are closed at once
REFUSAL_LINGER_SECONDS = 1.0
MAX_LINGERING = 64
NOTICE_INTERVAL_SECONDS = 10.0


def error_reply(status: int, error: str, message: str, *, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 reply in the API's error format, written before closing."""
    body = json.dumps({"status": "error", "error": error, "message": message}).encode()
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        lines.append(f"retry-after: {retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Notices:
    """At most one log line per kind every `interval` seconds, counting the ones it held back:
    a flood of slow clients must not become a flood of log lines. Lines name the client's
    address and the rule, never anything the client sent."""

    def __init__(self, *, interval: float = NOTICE_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held_back: collections.Counter[str] = collections.Counter()

    def note(self, kind: str, level: int, text: str, *, client: str, now: float) -> None:
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._held_back[kind] += 1
            return
        self._last[kind] = now
        held = self._held_back.pop(kind, 0)
        more = f" (and {held} more since the last such line)" if held else ""
        log.log(level, "%s: %s%s", client, text, more)


class ConnectionGuard:
    """What the connections of one server share: the limits, the ledger, the log throttle."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.ledger = ConnectionLedger(max_connections=limits.max_connections, max_per_client=limits.max_per_client)
        self.notices = Notices()
        self.lingering = 0  # refused connections still open
        self.timeouts = {HEADER: limits.header_timeout, BODY: limits.body_timeout}
        self.timeout_replies = {
            phase: error_reply(408, "request_timeout", f"request {phase} not complete within {seconds:g} s")
            for phase, seconds in self.timeouts.items()
        }
        self.refusals = {
            "server_full": error_reply(503, "too_many_connections", "server busy: too many connections", retry_after=1),
            "client_full": error_reply(
                503, "too_many_connections", "too many connections from this address", retry_after=1
            ),
        }


class GuardedH11Protocol(H11Protocol):
    """One connection. uvicorn builds it with (config, server_state, app_state); the guard comes
    from the class, see bound_to()."""

    guard: ClassVar[ConnectionGuard]

    @classmethod
    def bound_to(cls, guard: ConnectionGuard) -> type[GuardedH11Protocol]:
        """A subclass whose connections share `guard` (uvicorn's `http=` takes a class)."""
        return type(cls.__name__, (cls,), {"guard": guard})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._client_key: str | None = None  # set while the connection counts in the ledger
        self._refused = False
        self._lingering = False
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        key = client_key(self.client)
        refusal = self.guard.ledger.admit(key)
        if refusal is not None:
            self._refuse(refusal, key)
            return
        self._client_key = key
        self._follow_phase()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._lingering:
            self.guard.lingering -= 1
            self._lingering = False
        if self._client_key is not None:
            self.guard.ledger.release(self._client_key)
            self._client_key = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what a refused client still sends is not read
        super().data_received(data)
        self._follow_phase()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start the next request cycle
        self._follow_phase()

    # -- deadlines

    def _follow_phase(self) -> None:
        """Start the deadline of the phase the client is in, if it just entered it; a phase
        keeps the deadline it started with, however much the client trickles in meanwhile."""
        if self.transport.is_closing():
            phase = None
        elif self.conn.their_state is h11.IDLE:
            phase = HEADER
        elif self.conn.their_state is h11.SEND_BODY:
            phase = BODY
        else:
            phase = None
        if phase == self._phase:
            return
        self._cancel_deadline()
        self._phase = phase
        if phase is not None:
            self._deadline = self.loop.call_later(self.guard.timeouts[phase], self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._phase is None:
            return
        phase, seconds = self._phase, self.guard.timeouts[self._phase]
        # a connection that sent nothing of its next request is idle: closed without a word, as a
        # keep-alive connection is; one that started a request is told why (h11 still holds the
        # unparsed part of a header in its buffer)
        started = phase == BODY or bool(self.conn.trailing_data[0])
        if started:
            self.guard.notices.note(
                f"{phase}_timeout",
                logging.WARNING,
                f"connection closed: request {phase} not complete within {seconds:g} s",
                client=self._client_key or "?",
                now=self.loop.time(),
            )
            if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # no reply begun
                self.transport.write(self.guard.timeout_replies[phase])
        else:
            self.guard.notices.note(
                "idle_timeout",
                logging.INFO,
                f"connection closed: no request within {seconds:g} s",
                client=self._client_key or "?",
                now=self.loop.time(),
            )
        self.transport.close()  # the app, if it waits for the body, is told `http.disconnect`

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    # -- admission

    def _refuse(self, refusal: str, key: str) -> None:
        self._refused = True
        limits = self.guard.limits
        cap = limits.max_connections if refusal == "server_full" else limits.max_per_client
        where = "in total" if refusal == "server_full" else "from this client"
        self.guard.notices.note(
            refusal,
            logging.WARNING,
            f"connection refused: {cap} open {where} already",
            client=key,
            now=self.loop.time(),
        )
        self.transport.write(self.guard.refusals[refusal])
        if self.guard.lingering >= MAX_LINGERING or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.guard.lingering += 1
        self._lingering = True
        self._deadline = self.loop.call_later(REFUSAL_LINGER_SECONDS, self.transport.close)
