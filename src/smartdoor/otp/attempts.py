"""Deciding what one verify attempt may do, from the door's record alone (pure: no I/O).

Count first, then compare: an attempt is planned as one update of the door that counts it
against the code (attempts) *and* as a failure of the door (failures, and the lockout that
failure would start), before any comparison. The engine applies the plan only if the door
is still at the revision the plan was made from, so however many requests race, and across
any number of processes, each comparison is preceded by its own counted attempt: at most
`max_attempts_per_code` comparisons per code, none while the door is locked out, and every
wrong one already counted. A right code then undoes the failure it was counted as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from smartdoor.doors import lockout
from smartdoor.doors.lockout import FailureCost, Limits
from smartdoor.doors.models import Door, EndedCode, PendingCode, StoredOutcome
from smartdoor.doors.pending import end_status
from smartdoor.errors import CodeRejected, DomainError, InProgress, LockedOut, NotAllowed, NotAuthenticated, NotFound

ENDED_MESSAGES = {
    "used": "the code was used already",
    "superseded": "a newer code replaced this one",
    "expired": "the code has expired",
    "burned": "too many wrong codes for this code: request a new one",
    "withdrawn": "the code was withdrawn: request a new one",
}


@dataclass(frozen=True)
class Attempt:
    """A counted attempt: apply `update` (conditional on the door's revision), then compare."""

    pending: PendingCode
    update: dict
    cost: FailureCost
    attempts_left: int  # if this attempt is wrong

    def refusal_if_wrong(self) -> DomainError:
        if (locked := self.cost.refusal()) is not None:
            return locked
        if self.attempts_left == 0:
            return rejected("burned", attempts_left=0)
        return CodeRejected("wrong code", reason="wrong_code", attempts_left=self.attempts_left)


@dataclass(frozen=True)
class Replay:
    """The identical request was handled before: give its outcome again, change nothing."""

    outcome: StoredOutcome


def rejected(status: str, *, attempts_left: int | None = None) -> CodeRejected:
    return CodeRejected(ENDED_MESSAGES[status], reason=status, attempts_left=attempts_left)


def _find_ended(door: Door, challenge_id: str | None) -> EndedCode | None:
    return next((e for e in door.get("ended") or [] if e["id"] == challenge_id), None)


def _replayed(replies: dict[str, StoredOutcome], nonce: str | None, sig: str, *, ended: bool = False) -> Replay | None:
    """`ended`: the replies of an ended code. One still marked under way there is not waited for:
    its verify raced the code's use (the consuming update carried the mark from its own read, or
    the outcome came after the code had gone), so the resend is answered afresh, never 409 forever."""
    stored = replies.get(nonce) if nonce else None
    if stored is None:
        return None
    if stored["sig"] != sig:  # the same nonce on another request: not a resend
        raise NotAuthenticated("this request was seen before", reason="replayed_request")
    if not stored["done"]:
        if ended:
            return None
        raise InProgress()
    return Replay(stored)


def plan_attempt(
    door: Door, *, challenge_id: str | None, nonce: str | None, sig: str, now: datetime, limits: Limits
) -> Attempt | Replay:
    """challenge_id None: the door's pending code (the original Arduino sketch names none).
    nonce None: a request that cannot be resent (the sketch's). Raises the refusal when no
    attempt may be made."""
    pending = door.get("pending")
    live = pending is not None and (challenge_id is None or pending["id"] == challenge_id)
    if live:
        assert pending is not None
        if replay := _replayed(pending["replies"], nonce, sig):
            return replay
    elif (ended := _find_ended(door, challenge_id)) is not None and (
        replay := _replayed(ended["replies"], nonce, sig, ended=True)
    ):
        return replay
    lockout.check(door, now)
    if not live:
        if ended is not None:
            raise rejected(ended["status"])
        raise NotFound("no such code request", reason="unknown_challenge")
    assert pending is not None
    if ended_by_now := end_status(pending, now=now, max_attempts=limits.max_attempts_per_code):
        raise rejected(ended_by_now)
    cost = lockout.next_failure(door, limits)
    attempts = pending["attempts"] + 1
    fields = {**cost.fields(now), "pending.attempts": attempts}
    if nonce:
        fields[f"pending.replies.{nonce}"] = StoredOutcome(sig=sig, done=False)
    return Attempt(
        pending=pending,
        update={"$set": fields, "$inc": {"rev": 1}},
        cost=cost,
        attempts_left=limits.max_attempts_per_code - attempts,
    )


def outcome_of(sig: str, result: DomainError | str, now: datetime) -> StoredOutcome:
    """What to keep of an attempt's result (an action on success, else the refusal)."""
    if isinstance(result, str):
        return StoredOutcome(sig=sig, done=True, reason="success", action=result)  # type: ignore[typeddict-item]
    stored = StoredOutcome(sig=sig, done=True, reason=result.reason)
    if isinstance(result, CodeRejected) and result.attempts_left is not None:
        stored["attempts_left"] = result.attempts_left
    if isinstance(result, LockedOut):
        stored["until"] = now + timedelta(seconds=0 if result.hard else result.retry_after)
    return stored


def replay_result(stored: StoredOutcome, now: datetime) -> str:
    """The original outcome again: the action on success, else the same refusal raised."""
    reason = stored.get("reason")
    if reason == "success":
        return stored["action"]
    if reason == "hard_lockout":
        raise LockedOut(retry_after=lockout.HARD_LOCKOUT_RETRY_AFTER, hard=True)
    if reason == "locked_out":
        raise LockedOut(retry_after=lockout.retry_after(stored["until"], now))
    if reason == "wrong_code":
        raise CodeRejected("wrong code", reason="wrong_code", attempts_left=stored.get("attempts_left"))
    if reason == "not_allowed":
        raise NotAllowed("uses_exhausted")
    raise rejected(reason or "used", attempts_left=stored.get("attempts_left"))
