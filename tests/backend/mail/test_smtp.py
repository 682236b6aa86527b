"""Mail against a real SMTP server on loopback: plain, STARTTLS with a self-signed
certificate made here, login, a dead server (→ partial_success, code still valid), and the
connection a burst of mail shares."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smartdoor.mail.sender import SmtpMailer
from smartdoor.mail.sink import MailSink, start_sink
from tests.conftest import build_settings, code_in

PASSWORD = "s3cret-app-password"


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls(tmp_path):
    """A self-signed certificate for localhost, and a server context that presents it."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"door@example.com" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


async def test_plain_smtp_multipart(harness):
    device = await harness.add_door()
    assert (await device.request_code("lock")).json()["status"] == "success"
    mail = harness.sink.wait_for(1)[0]
    assert mail["multipart"] and mail["text"] and mail["html"] and not mail["tls"]
    assert "lock" in mail["subject"] and code_in(mail) in mail["html"]


async def test_starttls_with_login_and_self_signed_certificate(make_harness, tls):
    cert, context = tls
    controller, sink = start_sink(
        tls_context=context, require_starttls=True, authenticator=authenticator, auth_require_tls=True
    )
    starttls = dict(
        mail_server="localhost",
        mail_port=controller.port,
        mail_starttls=True,
        mail_username="door@example.com",
        mail_password=PASSWORD,
    )
    try:
        async with make_harness(**starttls, mail_ca_file=str(cert)) as h:
            device = await h.add_door()
            assert (await device.request_code()).json()["status"] == "success"
            mail = sink.wait_for(1)[0]
            assert mail["tls"] and code_in(mail)
            # an untrusted certificate is refused: the code stays valid, the reply says why
            async with make_harness(**starttls) as untrusted:
                d2 = await untrusted.add_door()
                reply = (await d2.request_code()).json()
                assert reply["status"] == "partial_success" and "failed" in reply["reason"]
    finally:
        controller.stop()


async def test_implicit_tls(make_harness, tls):
    cert, context = tls
    controller, sink = start_sink(ssl_context=context)
    try:
        async with make_harness(
            mail_server="localhost",
            mail_port=controller.port,
            mail_starttls=False,
            mail_ssl_tls=True,
            mail_ca_file=str(cert),
        ) as h:
            device = await h.add_door()
            assert (await device.request_code()).json()["status"] == "success"
            assert code_in(sink.wait_for(1)[0])
    finally:
        controller.stop()


class RecordingMailer(SmtpMailer):
    """The real SMTP client, but it keeps the message so the test can read the code that
    the dead server never received."""

    def __init__(self, settings):
        super().__init__(settings)
        self.sent = []

    async def send(self, message):
        self.sent.append(message)
        return await super().send(message)


async def test_dead_server_partial_success_and_code_still_valid(make_harness, mongo_uri, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed when we leave: nothing listens there
    mailer = RecordingMailer(build_settings(mongo_uri, tmp_path, dead_port))
    async with make_harness(mail_port=dead_port, mailer=mailer) as h:
        device = await h.add_door()
        reply = (await device.request_code()).json()
        assert reply["status"] == "partial_success" and reply["reason"].startswith("mail delivery failed")
        sent = email.message_from_bytes(mailer.sent[0].data, policy=email.policy.default)  # as the relay would get it
        code = sent.get_body(("plain",)).get_content().split("Code: ")[1][:6]
        assert (await device.verify(reply["challenge_id"], code)).json()["status"] == "success"
        failed = (await h.audit(event="mail_delivery"))[0]
        assert failed["outcome"] == "failure"


HANG_UP = b""  # a relay's answer: close the connection without a word


class ScriptedRelay:
    """An SMTP relay on loopback that plays a corner case a real one shows: it greets, takes each
    mail (its body in `delivered`) and says 250 to the rest, `pause` seconds late each time, unless
    `answer(verb, line, mails)` (mails: taken on this connection so far) answers a command its own
    way: a reply line (a 421 closes the connection after it, as a relay closing does), or HANG_UP."""

    def __init__(self, answer=None, pause: float = 0.0) -> None:
        self.answer, self.pause = answer or (lambda verb, line, mails: None), pause
        self.delivered: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _session(self, reader, writer) -> None:
        self.connections += 1
        mails = 0

        async def say(line: bytes) -> None:
            await asyncio.sleep(self.pause)
            writer.write(line + b"\r\n")
            await writer.drain()

        await say(b"220 relay.example ESMTP")
        while line := await reader.readline():
            verb = line[:4].upper()
            reply = self.answer(verb, line, mails)
            if reply is not None:
                if reply != HANG_UP:
                    await say(reply)
                if reply == HANG_UP or reply.startswith(b"421"):
                    break
            elif verb == b"DATA":
                await say(b"354 go on")
                body = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.delivered.append(body)
                mails += 1
                await say(b"250 queued")
            elif verb == b"QUIT":
                await say(b"221 bye")
                break
            else:
                await say(b"250 ok")
        writer.close()


@pytest.fixture
async def relay():
    """Starts a ScriptedRelay (same arguments); every one started is closed after the test."""
    started: list[ScriptedRelay] = []

    async def start(answer=None, pause: float = 0.0) -> ScriptedRelay:
        scripted = ScriptedRelay(answer, pause)
        scripted.server = await asyncio.start_server(scripted._session, "127.0.0.1", 0)
        started.append(scripted)
        return scripted

    yield start
    for scripted in started:
        assert scripted.server is not None
        scripted.server.close()
        await scripted.server.wait_closed()


@pytest.fixture
async def mailer_to(tmp_path):
    """The app's SMTP client for a relay on a loopback port (no database needed); closed after
    the test, with the connection it may keep."""
    made: list[SmtpMailer] = []

    def make(port: int, **settings) -> SmtpMailer:
        made.append(SmtpMailer(build_settings("mongodb://unused", tmp_path, port, **settings)))
        return made[-1]

    yield make
    for mailer in made:
        await mailer.close()


async def test_a_relay_answering_each_step_just_in_time_is_cut_at_the_total_deadline(relay, mailer_to):
    """Each reply comes 0.4 s late (under the 1 s per-step timeout), so only a deadline on the
    whole send stops it: the code request answers partial_success instead of waiting."""
    slow = await relay(pause=0.4)
    reason = await mailer_to(slow.port, mail_timeout_seconds=1.0).send(_message(123456))
    assert reason == "mail delivery failed (TimeoutError)"


def _message(n: int):
    from smartdoor.mail.message import code_message

    return code_message(sender="door@example.com", to=["a@example.com"], door_name="Front", action="unlock",
                        code=f"{n:06d}", expires_at=dt.datetime.now(dt.UTC))  # fmt: skip


class Sessions(MailSink):
    """Remembers the client's address of each mail: one port, one connection."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list = []

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


async def test_a_burst_of_mail_shares_one_connection_and_a_relay_restart_costs_no_mail(mailer_to):
    sessions = Sessions()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = Controller(sessions, hostname="127.0.0.1", port=port)
    relay.start()
    mailer = mailer_to(port)
    try:
        assert await mailer.send(_message(1)) is None and await mailer.send(_message(2)) is None
        assert len(sessions.peers) == 2 and sessions.peers[0] == sessions.peers[1]  # kept, then used again
        relay.stop()  # the relay goes away with the kept connection; a new one comes up on the port
        relay = Controller(sessions, hostname="127.0.0.1", port=port)
        relay.start()
        assert await mailer.send(_message(3)) is None
        assert [code_in(m) for m in sessions.wait_for(3)] == ["000003", "000002", "000001"]  # each once
        assert sessions.peers[2] != sessions.peers[1]
    finally:
        relay.stop()


@pytest.mark.parametrize("gives_up_at", [b"MAIL", b"RCPT", b"RCPT-HANGUP"])
async def test_a_kept_connection_the_relay_has_given_up_is_replaced_before_the_mail_goes(relay, mailer_to, gives_up_at):
    """A scripted relay that takes one mail per connection and then gives up on it as one that has
    timed the connection out would: answering 421 and hanging up at the next MAIL FROM (which the
    mailer sends as soon as it keeps the connection) or at the next mail's first RCPT, or hanging
    up there without a word. The mail goes on a new connection, once."""

    def give_up(verb, line, mails):
        if mails and gives_up_at.startswith(verb):
            return HANG_UP if gives_up_at.endswith(b"HANGUP") else b"421 timed out, closing"
        return None

    tired = await relay(give_up)
    mailer = mailer_to(tired.port)
    assert await mailer.send(_message(1)) is None
    assert await mailer.send(_message(2)) is None
    assert tired.connections == 2 and len(tired.delivered) == 2
    assert b"000001" in tired.delivered[0] and b"000002" in tired.delivered[1]


async def test_a_refused_recipient_does_not_stop_the_mail_to_the_others(relay, mailer_to):
    """As before the outbox: the mail counts as delivered when the relay accepts one recipient;
    it fails (and is retried) only when it accepts none."""
    picky = await relay(
        lambda verb, line, mails: b"550 no such mailbox" if verb == b"RCPT" and b"nobody@" in line else None
    )
    mailer = mailer_to(picky.port)
    both = _message(1)
    del both["To"]
    both["To"] = "nobody@example.com, alice@example.com"
    assert await mailer.send(both) is None and len(picky.delivered) == 1
    alone = _message(2)
    del alone["To"]
    alone["To"] = "nobody@example.com"
    assert await mailer.send(alone) == "mail delivery failed (SMTPRecipientsRefused)" and len(picky.delivered) == 1
