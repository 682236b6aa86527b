"""Code generation and the pure limit arithmetic (ARCHITECTURE.md §4)."""

from __future__ import annotations

import secrets


def generate_code(digits: int) -> str:
    return str(secrets.randbelow(10**digits)).zfill(digits)


def is_code_format(code: object, digits: int) -> bool:
    return isinstance(code, str) and len(code) == digits and code.isascii() and code.isdigit()


def lockout_seconds(failures: int, *, per_lockout: int, base: int, maximum: int) -> int:
    """Wait imposed right after the door's `failures`-th consecutive failure: every
    `per_lockout` failures the wait doubles from `base`, capped at `maximum`; 0 otherwise."""
    if failures <= 0 or failures % per_lockout:
        return 0
    step = failures // per_lockout - 1
    return min(base * 2 ** min(step, 32), maximum)
