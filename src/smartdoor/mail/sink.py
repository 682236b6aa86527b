"""A real SMTP server on loopback that keeps what it receives: the demo's inbox and the
tests' mail server. aiosmtpd runs it in its own thread."""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from datetime import UTC, datetime
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class MailSink:
    def __init__(self, keep: int = 200) -> None:
        self._messages: deque[dict] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        item = {
            "received_at": datetime.now(UTC),
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(msg["Subject"]),
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
            "multipart": msg.is_multipart(),
            "tls": bool(session.ssl),
        }
        with self._arrived:
            self._messages.append(item)
            self._arrived.notify_all()
        return "250 Message accepted"

    def messages(self) -> list[dict]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._messages))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._messages) >= count, timeout)
            return list(reversed(self._messages))


def start_sink(host: str = "127.0.0.1", port: int = 0, **controller_options) -> tuple[Controller, MailSink]:
    # aiosmtpd logs every DATA line at DEBUG: that would put codes in the log
    logging.getLogger("mail.log").setLevel(logging.INFO)
    sink = MailSink()
    if port == 0:  # aiosmtpd cannot bind port 0 itself
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    controller = Controller(sink, hostname=host, port=port, **controller_options)
    controller.start()
    return controller, sink
