"""Codes: how they are made, what a well-formed one looks like, and the one comparison of a
typed code with a stored hash. Every comparison in Smart Door goes through `matches`, so a
test can count them."""

from __future__ import annotations

import hmac
import secrets

from smartdoor.crypto import code_hash


def generate_code(digits: int) -> str:
    return str(secrets.randbelow(10**digits)).zfill(digits)


def new_challenge_id() -> str:
    return secrets.token_urlsafe(16)


def is_code_format(code: object, digits: int) -> bool:
    return isinstance(code, str) and len(code) == digits and code.isascii() and code.isdigit()


def matches(code_keys: list[bytes], *, challenge_id: str, code: str, stored_hash: str) -> bool:
    """Constant-time comparison of a typed code with the stored hash. Several keys only while
    an old door's codes may still be hashed under the previous SECRET_KEY."""
    found = False
    for key in code_keys:
        found |= hmac.compare_digest(code_hash(key, challenge_id, code), stored_hash)
    return found
