"""Passwords: argon2id (argon2-cffi), hashed and checked off the event loop, a few at a time.

Parameters are OWASP's for argon2id (19 MiB, 2 passes, 1 lane: about 70 ms here): each check
holds that much memory, so at most MAX_PARALLEL run at once whatever the number of login
requests. A hash made with other parameters is upgraded at the next successful login."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from smartdoor.errors import InvalidInput

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MAX_PARALLEL = 2
MIN_LENGTH = 12
MAX_LENGTH = 256  # hashing is bounded; a megabyte "password" is not a password
# its own threads: bounded, and usable from any event loop
_POOL = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="argon2")
# checked when the account does not exist (or has no password), so the reply takes as long as for
# a wrong password: the timing does not say which e-mail addresses have accounts
_DUMMY = HASHER.hash("not a password of anybody's")


def check_new_password(password: str, *, email: str) -> str:
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters")
    if password.strip().lower() == email.strip().lower():
        raise InvalidInput("the password must not be the e-mail address")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_POOL, HASHER.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash to check against."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        password = ""
    return await asyncio.get_running_loop().run_in_executor(_POOL, _verify, stored_hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        HASHER.verify(stored_hash or _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
