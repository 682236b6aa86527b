"""Mail against a real SMTP server on loopback: plain, STARTTLS with a self-signed
certificate made here, login, a dead server (→ partial_success, code still valid), and the
connection a burst of mail shares."""

from __future__ import annotations

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


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"door@example.com" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


async def test_plain_smtp_multipart(harness):
    device = await harness.add_door()
    assert (await device.request_code("lock")).json()["status"] == "success"
    mail = harness.sink.wait_for(1)[0]
    assert mail["multipart"] and mail["text"] and mail["html"] and not mail["tls"]
    assert "lock" in mail["subject"] and code_in(mail) in mail["html"]


async def test_starttls_with_login_and_self_signed_certificate(make_harness, tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller, sink = start_sink(
        tls_context=context, require_starttls=True, authenticator=authenticator, auth_require_tls=True
    )
    try:
        async with make_harness(
            mail_server="localhost",
            mail_port=controller.port,
            mail_starttls=True,
            mail_username="door@example.com",
            mail_password=PASSWORD,
            mail_ca_file=str(cert),
        ) as h:
            device = await h.add_door()
            assert (await device.request_code()).json()["status"] == "success"
            mail = sink.wait_for(1)[0]
            assert mail["tls"] and code_in(mail)
            # an untrusted certificate is refused: the code stays valid, the reply says why
            async with make_harness(
                mail_server="localhost",
                mail_port=controller.port,
                mail_starttls=True,
                mail_username="door@example.com",
                mail_password=PASSWORD,
            ) as untrusted:
                d2 = await untrusted.add_door()
                reply = (await d2.request_code()).json()
                assert reply["status"] == "partial_success" and "failed" in reply["reason"]
    finally:
        controller.stop()


async def test_implicit_tls(make_harness, tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
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


async def test_a_relay_answering_each_step_just_in_time_is_cut_at_the_total_deadline(tmp_path):
    """Each reply comes 0.4 s late (under the 1 s per-step timeout), so only a deadline on the
    whole send stops it: the code request answers partial_success instead of waiting."""
    import asyncio

    async def slow_relay(reader, writer):
        async def say(line: bytes) -> None:
            await asyncio.sleep(0.4)
            writer.write(line + b"\r\n")
            await writer.drain()

        await say(b"220 slow.example ESMTP")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                await say(b"354 go on")
                while (await reader.readline()) not in (b".\r\n", b""):
                    pass
                await say(b"250 queued")
            elif verb == b"QUIT":
                await say(b"221 bye")
                break
            else:
                await say(b"250 ok")
        writer.close()

    server = await asyncio.start_server(slow_relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = build_settings("mongodb://unused", tmp_path, port, mail_timeout_seconds=1.0)
        from smartdoor.mail.message import code_message

        msg = code_message(sender="door@example.com", to=["a@example.com"], door_name="Front", action="unlock",
                           code="123456", expires_at=dt.datetime.now(dt.UTC))  # fmt: skip
        reason = await SmtpMailer(settings).send(msg)
        assert reason == "mail delivery failed (TimeoutError)"
    finally:
        server.close()
        await server.wait_closed()


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


async def test_a_burst_of_mail_shares_one_connection_and_a_relay_restart_costs_no_mail(tmp_path):
    sessions = Sessions()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = Controller(sessions, hostname="127.0.0.1", port=port)
    relay.start()
    mailer = SmtpMailer(build_settings("mongodb://unused", tmp_path, port))
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
        await mailer.close()
        relay.stop()


@pytest.mark.parametrize("gives_up_at", [b"MAIL", b"RCPT", b"RCPT-HANGUP"])
async def test_a_kept_connection_the_relay_has_given_up_is_replaced_before_the_mail_goes(tmp_path, gives_up_at):
    """A scripted relay that takes one mail per connection and then gives up on it as one that has
    timed the connection out would: answering 421 and hanging up at the next MAIL FROM (which the
    mailer sends as soon as it keeps the connection) or at the next mail's first RCPT, or hanging
    up there without a word. The mail goes on a new connection, once."""
    import asyncio

    delivered: list[bytes] = []
    connections = 0

    async def relay(reader, writer):
        nonlocal connections
        connections += 1
        took_one = False

        async def say(line: bytes) -> None:
            writer.write(line + b"\r\n")
            await writer.drain()

        await say(b"220 relay.example ESMTP")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                await say(b"354 go on")
                body = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    body += chunk
                delivered.append(body)
                took_one = True
                await say(b"250 queued")
            elif took_one and gives_up_at.startswith(verb):
                if not gives_up_at.endswith(b"HANGUP"):
                    await say(b"421 timed out, closing")
                break
            elif verb == b"QUIT":
                await say(b"221 bye")
                break
            else:
                await say(b"250 ok")
        writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mailer = SmtpMailer(build_settings("mongodb://unused", tmp_path, port))
    try:
        assert await mailer.send(_message(1)) is None
        assert await mailer.send(_message(2)) is None
        assert connections == 2 and len(delivered) == 2
        assert b"000001" in delivered[0] and b"000002" in delivered[1]
    finally:
        await mailer.close()
        server.close()
        await server.wait_closed()


async def test_a_refused_recipient_does_not_stop_the_mail_to_the_others(tmp_path):
    """As before the outbox: the mail counts as delivered when the relay accepts one recipient;
    it fails (and is retried) only when it accepts none."""
    import asyncio

    delivered: list[bytes] = []

    async def relay(reader, writer):
        async def say(line: bytes) -> None:
            writer.write(line + b"\r\n")
            await writer.drain()

        await say(b"220 relay.example ESMTP")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"RCPT" and b"nobody@" in line:
                await say(b"550 no such mailbox")
            elif verb == b"DATA":
                await say(b"354 go on")
                body = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    body += chunk
                delivered.append(body)
                await say(b"250 queued")
            elif verb == b"QUIT":
                await say(b"221 bye")
                break
            else:
                await say(b"250 ok")
        writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    mailer = SmtpMailer(build_settings("mongodb://unused", tmp_path, server.sockets[0].getsockname()[1]))
    try:
        both = _message(1)
        del both["To"]
        both["To"] = "nobody@example.com, alice@example.com"
        assert await mailer.send(both) is None and len(delivered) == 1
        alone = _message(2)
        del alone["To"]
        alone["To"] = "nobody@example.com"
        assert await mailer.send(alone) == "mail delivery failed (SMTPRecipientsRefused)" and len(delivered) == 1
    finally:
        await mailer.close()
        server.close()
        await server.wait_closed()
