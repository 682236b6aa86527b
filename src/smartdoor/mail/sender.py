"""Sending mail over SMTP (plain, STARTTLS or implicit TLS) behind a one-method interface."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from smartdoor.settings import Settings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> str | None:
        """None when delivered, else a short reason (never raises)."""


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self._tls_context: ssl.SSLContext | None = None
        self._local_hostname: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        """Made once: loading the system's CA bundle takes ~30 ms on this project's machine, most
        of a code request's time when it was made for every send. A context is reusable and does
        not change; a new MAIL_CA_FILE takes effect at the next start."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context(cafile=self._s.mail_ca_file or None)
        return self._tls_context

    async def local_hostname(self) -> str:
        """The name this host gives in EHLO: the one aiosmtplib would look up on every connection
        (socket.getfqdn, in a thread), looked up once."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def send(self, message: EmailMessage) -> str | None:
        s = self._s
        if not s.mail_server:
            return "mail not configured"
        try:
            # aiosmtplib's own timeout bounds each step; a relay answering every step just in
            # time could still take minutes, so the whole send gets one deadline too. A door
            # waiting for the reply gives up later than this (see the README's deadlines).
            async with asyncio.timeout(s.mail_timeout_seconds):
                await aiosmtplib.send(
                    message,
                    hostname=s.mail_server,
                    port=s.mail_port,
                    username=s.mail_username or None,
                    password=s.mail_password.get_secret_value() if s.mail_username else None,
                    start_tls=s.mail_starttls,
                    use_tls=s.mail_ssl_tls,
                    tls_context=self.tls_context(),
                    local_hostname=await self.local_hostname(),
                    timeout=s.mail_timeout_seconds,
                )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            # the exception text may quote the server, never the message body
            reason = f"{type(exc).__name__}"
            log.warning("mail delivery to %s failed: %s", s.mail_server, reason)
            return f"mail delivery failed ({reason})"
        return None
