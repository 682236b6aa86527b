"""A message in the form the relay receives it: its envelope (sender, recipients) and its bytes.

Made once per message. The outbox seals exactly these bytes and every attempt sends them as
they are, so a retry is the very same mail (same Message-ID, same text) as the first attempt,
and nothing is flattened twice. The bytes are 7-bit clean (any non-ASCII text is base64 or
quoted-printable, headers are RFC 2047 words), so any relay takes them, with or without
8BITMIME."""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr

WIRE_POLICY = email.policy.SMTP.clone(cte_type="7bit")  # CRLF lines, 7-bit bodies
# mail.message's messages are compat32 and 7-bit already: they need CRLF lines only (folding
# them with WIRE_POLICY would parse every header again, the cost they avoid)
COMPAT32_WIRE_POLICY = email.policy.compat32.clone(linesep="\r\n")


@dataclass(frozen=True)
class Outgoing:
    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @classmethod
    def of(cls, message: Message) -> Outgoing:
        policy = WIRE_POLICY if isinstance(message, EmailMessage) else COMPAT32_WIRE_POLICY
        return cls.read(message.as_bytes(policy=policy))

    @classmethod
    def read(cls, data: bytes) -> Outgoing:
        """The envelope is read from the bytes' own From, To and Cc (there is never a Bcc), the
        same way for the first attempt and for a retry of the stored bytes."""
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
        sender = parseaddr(headers.get("From", ""))[1]
        listed = getaddresses([*headers.get_all("To", []), *headers.get_all("Cc", [])])
        return cls(sender, tuple(dict.fromkeys(address for _, address in listed if address)), data)
