"""One-time set-up links: how a person gets their first password and passkey (and how an
administrator recovers an account from the shell). The link carries a random token after `#`:
browsers never send the fragment, so the token appears in no server or proxy log and no
Referer; the page's script posts it. Only its SHA-256 is stored. It works once, for
LINK_LIFETIME, and a new link for a person replaces the older ones."""

from __future__ import annotations

from datetime import datetime, timedelta

from smartdoor.admin.sessions import MAX_TOKEN, new_token, token_hash
from smartdoor.store.database import Database

LINK_LIFETIME = timedelta(hours=24)


async def create_link(db: Database, *, person_id: str, by: str, now: datetime) -> str:
    """A new link token for this person (the only time it exists in clear)."""
    await db.setup_links.delete_many({"person": person_id})
    token = new_token()
    expires = now + LINK_LIFETIME
    await db.setup_links.insert_one(
        {"_id": token_hash(token), "person": person_id, "by": by, "created_at": now, "expires_at": expires,
         "purge_at": expires}
    )  # fmt: skip
    return token


async def consume_link(db: Database, *, token: object, now: datetime) -> str | None:
    """The person the link is for, once: a second use, an expired or unknown token gets None."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
        return None
    link = await db.setup_links.find_one_and_delete({"_id": token_hash(token), "expires_at": {"$gt": now}})
    return link["person"] if link else None


def link_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/admin/setup#{token}"
