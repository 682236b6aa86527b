"""A mail relay that is down, then up: a loopback port nothing listens on (connections are
refused), on which a real aiosmtpd sink is started later. And the clock steps that let the
backends' outboxes retry meanwhile."""

from __future__ import annotations

import asyncio
import socket

from smartdoor.mail.sink import MailSink, start_sink
from smartdoor.outbox import records


def refusing_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed when we leave: a connection is refused


class Relay:
    def __init__(self, port: int) -> None:
        self.port = port
        self.controller = None
        self.sink: MailSink | None = None

    def up(self) -> None:
        self.controller, self.sink = start_sink(port=self.port)

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[dict]:
        return self.sink.messages() if self.sink else []


async def step(harnesses, seconds: float, *, racing: bool = False) -> None:
    """Moves the (shared, fake) clock on and lets every backend's outbox worker look for due mail,
    all at once; returns when each has made its pass. `racing`: a second pass of each backend
    runs alongside its worker's, so that claims meet on the same record."""
    harnesses[0].clock.advance(seconds)
    extra = [h.services.outbox.deliver_due() for h in harnesses] if racing else []
    await asyncio.gather(*(h.services.outbox.look_now() for h in harnesses), *extra)


async def eventually(check, timeout: float = 15.0) -> None:
    """Waits (generously) for work the backends do on their own, e.g. an attempt a worker started."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def stored(h) -> list[dict]:
    return await records.collection(h.db).find().to_list()


async def attempts(h, event: str = "mail_delivery") -> list[dict]:
    return [e for e in await h.audit(event=event)]
