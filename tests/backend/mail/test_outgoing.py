"""A message in the form the relay gets it: 7-bit clean bytes with CRLF lines, whatever the
door's name, and an envelope read back from those bytes the same way on every attempt."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from smartdoor.mail.message import code_message
from smartdoor.mail.outgoing import Outgoing


def test_the_bytes_are_7_bit_with_crlf_lines_and_read_back_to_the_same_mail():
    message = code_message(
        sender="door@example.com", to=["alice@example.com", "bob@example.com"], door_name="Tür – Hof",
        action="unlock", code="042917", expires_at=dt.datetime(2026, 1, 1, 12, 2, tzinfo=dt.UTC),
    )  # fmt: skip
    out = Outgoing.of(message)
    assert out.sender == "door@example.com" and out.recipients == ("alice@example.com", "bob@example.com")
    out.data.decode("ascii")  # any relay takes it, with or without 8BITMIME
    assert b"\r\n" in out.data and b"\n" not in out.data.replace(b"\r\n", b"")
    again = email.message_from_bytes(out.data, policy=email.policy.default)
    assert "Tür – Hof" in again["Subject"] and "Code: 042917" in again.get_body(("plain",)).get_content()
    assert Outgoing.read(out.data) == out
