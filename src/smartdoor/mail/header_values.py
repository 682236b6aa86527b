"""What may go into a mail header: a recipient's address (To) and a door's name (Subject).
Checked where the value enters (doors, settings), never first when a mail is built: by then a
code is stored, and the mail library's ValueError for a CR/LF in a header would be a 500."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.utils import parseaddr

MAX_ADDRESS = 254  # RFC 5321's limit for a forward path, less the angle brackets
MAX_LOCAL_PART = 64
MAX_DOOR_NAME = 64
# printable ASCII without space, quote, comma, brackets: a plain dot-atom address and no more
_ADDRESS_CHARS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]+")
_DOMAIN_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class HeaderValueError(ValueError):
    """A one-line reason; the value itself appears only as repr() (no raw CR/LF)."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "…")


def check_address(value: str) -> str:
    """The address without surrounding whitespace, or HeaderValueError. ASCII only: an
    international domain is written in its xn-- form."""
    address = value.strip() if isinstance(value, str) else ""
    refusal = HeaderValueError(f"not an email address: {_shown(str(value))}")
    if not 3 <= len(address) <= MAX_ADDRESS or not _ADDRESS_CHARS.fullmatch(address):
        raise refusal
    if parseaddr(address) != ("", address):  # the parser reads exactly this one address back
        raise refusal
    try:
        parsed = Address(addr_spec=address)
    except Exception:  # ValueError, HeaderParseError, IndexError: all mean "not an address"
        raise refusal from None
    local, domain = parsed.username, parsed.domain
    if parsed.addr_spec != address or not local or len(local) > MAX_LOCAL_PART:
        raise refusal
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in domain.split(".")):
        raise refusal
    return address


def check_door_name(value: str) -> str:
    """The name without surrounding whitespace, or HeaderValueError: 1 to 64 printable characters."""
    name = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(name) <= MAX_DOOR_NAME or not name.isprintable():
        raise HeaderValueError(f"a door name is 1 to {MAX_DOOR_NAME} printable characters, not {_shown(str(value))}")
    return name
