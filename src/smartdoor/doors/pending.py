"""How a door's live code ends (used, superseded, expired, burned, withdrawn): it moves to the
door's short list of ended codes, in one conditional update. One place for every caller: the
code engine, the expiry sweeper, and withdrawals when a grant or a person changes."""

from __future__ import annotations

from datetime import datetime

from smartdoor.doors.models import KEEP_ENDED, EndedCode, EndStatus, PendingCode


def end_status(pending: PendingCode, *, now: datetime, max_attempts: int) -> EndStatus | None:
    """How the live code has ended by now on its own, if it has: burned once its attempts are
    spent (its burn was audited then, and stays its end when its time runs out later), else
    expired once its time is up. The one answer for a verify, a new code request and the sweeper."""
    if pending["attempts"] >= max_attempts:
        return "burned"
    if pending["expires_at"] <= now:
        return "expired"
    return None


def ended_entry(pending: PendingCode, status: str, now: datetime, replies=None) -> EndedCode:
    ended = EndedCode(
        id=pending["id"],
        status=status,  # type: ignore[typeddict-item]
        ended_at=now,
        replies=replies if replies is not None else pending["replies"],
    )
    if "person" in pending:  # a late verify's refusal still names who asked
        ended["person"] = pending["person"]
    return ended


def end_pending_update(ended: EndedCode, fields: dict | None = None) -> dict:
    """The update that moves the door's pending code to its ended list (apply it conditional
    on `pending.id`, so that a code ends once whoever notices first)."""
    return {
        "$set": {"pending": None, **(fields or {})},
        "$push": {"ended": {"$each": [ended], "$slice": -KEEP_ENDED}},
        "$inc": {"rev": 1},
    }


def end_pending(pending: PendingCode, status: str, now: datetime) -> dict:
    return end_pending_update(ended_entry(pending, status, now))
