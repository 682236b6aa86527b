"""Login attempts are limited like door codes: counted first, then compared.

Every attempt (a password, an e-mail code, a passkey) is first counted as a failure against
the account and against the source address, each with one revision-checked update, and only
then checked. A right answer gives its own count back; a completed login resets the
account. Every `per_wait` counted failures impose a wait (30 s doubling, at most 15 minutes),
so however many attempts race, at most `per_wait` checks happen before the first wait. The
source is counted too, so one address cannot walk through many accounts; an account's own
count stops many addresses guessing one password. Unknown accounts are counted the same way
(keyed by a hash of the typed address), so the limits do not tell which accounts exist."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from smartdoor.doors.lockout import lockout_seconds, retry_after
from smartdoor.errors import Refused
from smartdoor.store.database import Database

KEEP = timedelta(days=1)  # a record untouched this long is purged (TTL): its count no longer matters
MAX_RACES = 50  # lost revision races before giving up (each loser re-reads; one always wins)


@dataclass(frozen=True)
class LoginLimits:
    account_per_wait: int = 5
    source_per_wait: int = 20
    base_seconds: int = 30
    max_seconds: int = 900


LIMITS = LoginLimits()


class LoginWait(Refused):
    def __init__(self, *, retry_after: int) -> None:
        super().__init__(f"too many attempts: wait {retry_after} s and try again", reason="login_wait",
                         retry_after=retry_after)  # fmt: skip


def account_key(email: str) -> str:
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def source_key(client: str | None) -> str:
    return "source:" + (client or "unknown")


async def count_attempt(db: Database, *, key: str, per_wait: int, limits: LoginLimits = LIMITS, now: datetime) -> None:
    """Counts one attempt as a failure before it is checked; raises LoginWait (counting
    nothing) while a wait runs."""
    for _ in range(MAX_RACES):
        record = await db.login_limits.find_one({"_id": key})
        until = record and record.get("locked_until")
        if until is not None and until > now:
            raise LoginWait(retry_after=retry_after(until, now))
        failures = (record or {}).get("failures", 0) + 1
        wait = lockout_seconds(failures, per_lockout=per_wait, base=limits.base_seconds, maximum=limits.max_seconds)
        fields = {
            "failures": failures,
            "locked_until": now + timedelta(seconds=wait) if wait else None,
            "purge_at": now + KEEP,
        }
        if record is None:
            try:
                await db.login_limits.insert_one({"_id": key, "rev": 1, **fields})
                return
            except DuplicateKeyError:  # another attempt made it first: read again
                continue
        result = await db.login_limits.update_one(
            {"_id": key, "rev": record["rev"]}, {"$set": fields, "$inc": {"rev": 1}}
        )
        if result.modified_count:
            return
    raise LoginWait(retry_after=1)  # pathological contention: the caller may simply try again


async def give_back(db: Database, *, key: str, per_wait: int) -> None:
    """A right answer: the failure counted for it was none, and neither is a wait it started."""
    for _ in range(MAX_RACES):
        record = await db.login_limits.find_one({"_id": key})
        if record is None or record.get("failures", 0) <= 0:
            return
        fields: dict = {"failures": record["failures"] - 1}
        if record["failures"] % per_wait == 0:
            fields["locked_until"] = None
        result = await db.login_limits.update_one(
            {"_id": key, "rev": record["rev"]}, {"$set": fields, "$inc": {"rev": 1}}
        )
        if result.modified_count:
            return


async def give_back_login_attempt(db: Database, *, account: str, client: str | None) -> None:
    await give_back(db, key=source_key(client), per_wait=LIMITS.source_per_wait)
    await give_back(db, key=account, per_wait=LIMITS.account_per_wait)


async def reset(db: Database, *, key: str) -> None:
    """A completed login: the account's count starts again."""
    await db.login_limits.update_one({"_id": key}, {"$set": {"failures": 0, "locked_until": None}, "$inc": {"rev": 1}})


async def count_login_attempt(db: Database, *, account: str, client: str | None, now: datetime) -> None:
    """Source first: a source that is waiting counts nothing against the account it tries."""
    await count_attempt(db, key=source_key(client), per_wait=LIMITS.source_per_wait, now=now)
    await count_attempt(db, key=account, per_wait=LIMITS.account_per_wait, now=now)
