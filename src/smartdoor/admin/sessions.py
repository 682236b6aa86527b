"""Admin sessions, kept in the database (collection `admin_sessions`).

The browser holds a random 256-bit token; the database keeps only its SHA-256, so a copy of
the database opens no session. A session is in one stage: `second_factor` (the password was
right, a passkey or an e-mailed code is still due), `setup` (opened by a set-up link) or
`full`. Moving to `full` always issues a new token (no session fixation). A session ends after
ADMIN_IDLE_MINUTES without a request and ADMIN_SESSION_HOURS after it began, at logout, when
its person logs out everywhere, and when the person is disabled or removed (checked on every
request)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from smartdoor.settings import Settings
from smartdoor.store.database import Database

STAGES = ("second_factor", "setup", "full")
PENDING_LIFETIME = timedelta(minutes=10)  # to finish the second factor or the set-up
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often
MAX_TOKEN = 64


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _limits(settings: Settings, stage: str) -> tuple[timedelta, timedelta]:
    """(idle, absolute) lifetime of a session in this stage."""
    if stage != "full":
        return PENDING_LIFETIME, PENDING_LIFETIME
    return timedelta(minutes=settings.admin_idle_minutes), timedelta(hours=settings.admin_session_hours)


async def create_session(
    db: Database, *, person_id: str, stage: str, settings: Settings, now: datetime, client: str | None, **fields
) -> str:
    """A new session; returns its token (the only place it exists in clear)."""
    idle, absolute = _limits(settings, stage)
    token = new_token()
    until = now + absolute
    expires = min(now + idle, until)
    await db.admin_sessions.insert_one(
        {"_id": token_hash(token), "person": person_id, "stage": stage, "created_at": now, "last_seen": now,
         "absolute_until": until, "expires_at": expires, "purge_at": expires, "client": client, **fields}
    )  # fmt: skip
    return token


async def load_session(db: Database, token: str | None, *, settings: Settings, now: datetime) -> dict | None:
    """The live session this token opens, its idle clock moved on; None if there is none."""
    if not token or len(token) > MAX_TOKEN:
        return None
    session = await db.admin_sessions.find_one({"_id": token_hash(token)})
    if session is None or session["expires_at"] <= now:
        return None
    if now - session["last_seen"] >= TOUCH_EVERY:
        idle, _ = _limits(settings, session["stage"])
        expires = min(now + idle, session["absolute_until"])
        await db.admin_sessions.update_one(
            {"_id": session["_id"]}, {"$set": {"last_seen": now, "expires_at": expires, "purge_at": expires}}
        )
        session.update(last_seen=now, expires_at=expires)
    return session


async def update_session(db: Database, session_id: str, **fields) -> None:
    await db.admin_sessions.update_one({"_id": session_id}, {"$set": fields})


async def end_session(db: Database, session_id: str) -> None:
    await db.admin_sessions.delete_one({"_id": session_id})


async def end_all_sessions(db: Database, *, person_id: str) -> int:
    result = await db.admin_sessions.delete_many({"person": person_id})
    return result.deleted_count
