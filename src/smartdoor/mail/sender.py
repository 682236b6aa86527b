"""Sending mail over SMTP (plain, STARTTLS or implicit TLS) behind a one-method interface.

A connection that has just delivered a mail is kept open a few seconds (at most two of them),
so that a burst of mail (a code, then a notice; several doors at once) does not connect, greet,
negotiate TLS and log in for each one. As soon as it is kept, the next mail's MAIL FROM is sent
on it (the envelope sender is the same for every mail), so the next mail begins at RCPT: one
round trip less while a door waits for its code's reply. If the relay has hung up meanwhile, it
shows at that MAIL FROM or at the next mail's first RCPT, before anything of the mail has been
sent, and the mail goes on a new connection instead. A relay takes a mail when it answers the
end of DATA; QUIT comes after that and nobody waits for it."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from email.message import Message
from typing import Protocol

import aiosmtplib

from smartdoor.mail.outgoing import Outgoing
from smartdoor.settings import Settings

log = logging.getLogger(__name__)

KEEP_IDLE_SECONDS = 5.0  # well inside any relay's idle timeout (RFC 5321 suggests 5 minutes)
KEEP_AT_MOST = 2
_FAILURES = (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError)
CLOSING = 421  # the relay's "service not available, closing the channel", at any command


@dataclass
class _Kept:
    smtp: aiosmtplib.SMTP
    since: float  # loop time
    sender: str
    opened: asyncio.Task[bool]  # the next mail's MAIL FROM, sent when the connection was kept


class Mailer(Protocol):
    async def send(self, message: Message | Outgoing) -> str | None:
        """None when delivered, else a short reason (never raises)."""

    async def close(self) -> None:
        """Ends what sending left open (at shutdown)."""


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self._tls_context: ssl.SSLContext | None = None
        self._local_hostname: str | None = None
        self._idle: list[_Kept] = []  # kept connections
        self._goodbyes: set[asyncio.Task] = set()

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

    async def send(self, message: Message | Outgoing) -> str | None:
        s = self._s
        if not s.mail_server:
            return "mail not configured"
        outgoing = message if isinstance(message, Outgoing) else Outgoing.of(message)
        try:
            # aiosmtplib's own timeout bounds each step; a relay answering every step just in
            # time could still take minutes, so the whole send gets one deadline too. A door
            # waiting for the reply gives up later than this (see the README's deadlines).
            async with asyncio.timeout(s.mail_timeout_seconds):
                smtp = await self._deliver(outgoing)
        except _FAILURES as exc:
            # the exception text may quote the server, never the message body
            reason = f"{type(exc).__name__}"
            log.warning("mail delivery to %s failed: %s", s.mail_server, reason)
            return f"mail delivery failed ({reason})"
        self._keep(smtp, outgoing.sender)
        return None

    async def _deliver(self, outgoing: Outgoing) -> aiosmtplib.SMTP:
        """One mail transaction; returns its connection, fit to carry another mail. A connection
        that failed is closed, never kept."""
        smtp = await self._reuse(outgoing)
        if smtp is None:
            smtp = await self._connect()
            try:
                await smtp.mail(outgoing.sender)
                await self._recipients(smtp, outgoing)
            except BaseException:
                smtp.close()
                raise
        try:
            await smtp.data(outgoing.data)
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _reuse(self, outgoing: Outgoing) -> aiosmtplib.SMTP | None:
        """A kept connection with this mail's MAIL FROM and recipients accepted, or None when
        none is kept or the relay hung up on it (nothing of this mail has been sent then)."""
        kept = self._kept()
        if kept is None:
            return None
        smtp = kept.smtp
        try:
            if not await kept.opened:
                return None  # closed already
            if kept.sender != outgoing.sender:
                await smtp.rset()
                await smtp.mail(outgoing.sender)
            await self._recipients(smtp, outgoing)
        except aiosmtplib.SMTPRecipientsRefused:  # the relay's answer about these addresses
            smtp.close()
            raise
        except _FAILURES:  # hung up while kept
            smtp.close()
            return None
        except BaseException:
            smtp.close()
            raise
        return smtp

    @staticmethod
    async def _recipients(smtp: aiosmtplib.SMTP, outgoing: Outgoing) -> None:
        """As aiosmtplib's sendmail: the mail goes to the recipients the relay accepts, and fails
        only when it accepts none. A relay closing the channel is not a refusal."""
        refused = []
        for recipient in outgoing.recipients:
            try:
                await smtp.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as no:
                if no.code == CLOSING:
                    raise aiosmtplib.SMTPServerDisconnected(no.message) from None
                refused.append(no)
        if len(refused) == len(outgoing.recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)

    def _kept(self) -> _Kept | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            kept = self._idle.pop()
            if kept.smtp.is_connected and now - kept.since < KEEP_IDLE_SECONDS:
                return kept
            self._goodbye(kept)
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        """A new connection: connected, TLS as configured, logged in, greeted."""
        s = self._s
        smtp = aiosmtplib.SMTP(
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
        try:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()  # a relay from before ESMTP
        except BaseException:  # refused, TLS, login, or the deadline: nothing to keep
            smtp.close()
            raise
        return smtp

    def _keep(self, smtp: aiosmtplib.SMTP, sender: str) -> None:
        loop = asyncio.get_running_loop()
        if len(self._idle) >= KEEP_AT_MOST:
            self._quit(smtp)
            return
        self._idle.append(_Kept(smtp, loop.time(), sender, loop.create_task(self._open(smtp, sender))))
        loop.call_later(KEEP_IDLE_SECONDS, self._let_go_of_stale)

    async def _open(self, smtp: aiosmtplib.SMTP, sender: str) -> bool:
        """The next mail's MAIL FROM, sent while nothing waits; False (connection closed) when the
        relay does not take it."""
        try:
            async with asyncio.timeout(self._s.mail_timeout_seconds):
                await smtp.mail(sender)
        except _FAILURES:
            smtp.close()
            return False
        return True

    def _let_go_of_stale(self) -> None:
        now = asyncio.get_running_loop().time()
        stale = [kept for kept in self._idle if now - kept.since >= KEEP_IDLE_SECONDS]
        for kept in stale:
            self._idle.remove(kept)
            self._goodbye(kept)

    def _goodbye(self, kept: _Kept) -> None:
        """Its MAIL FROM ended, then QUIT (which also ends the open transaction)."""
        self._quit(kept.smtp, after=kept.opened)

    def _quit(self, smtp: aiosmtplib.SMTP, after: asyncio.Task | None = None) -> None:
        """QUIT in the background: the mails it carried were taken already."""

        async def quit_politely() -> None:
            try:
                async with asyncio.timeout(self._s.mail_timeout_seconds):
                    if after is not None:
                        await after
                    if smtp.is_connected:
                        await smtp.quit()
            except _FAILURES:
                smtp.close()

        task = asyncio.get_running_loop().create_task(quit_politely())
        self._goodbyes.add(task)
        task.add_done_callback(self._goodbyes.discard)

    async def close(self) -> None:
        while self._idle:
            self._goodbye(self._idle.pop())
        if self._goodbyes:
            await asyncio.wait(set(self._goodbyes), timeout=self._s.mail_timeout_seconds)
