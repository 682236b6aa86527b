"""Domain errors: what went wrong, in the engine's words. Nothing here knows HTTP; the API
layer (smartdoor.api.errors) maps each kind to a status code and a JSON body, and the CLI
prints the message.

`reason` is the machine-readable word a client sees as `error` (e.g. "wrong_code");
`details` are extra fields for the reply (e.g. attempts_left). `message` never holds a code,
a secret or a password."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.details = details


class InvalidInput(DomainError):
    reason = "invalid_input"


class BadRequest(DomainError):
    """The body is not what the route reads at all (e.g. not JSON)."""

    reason = "bad_request"


class NotFound(DomainError):
    reason = "not_found"


class AlreadyExists(DomainError):
    reason = "conflict"


class Forbidden(DomainError):
    reason = "forbidden"


class NotAllowed(Forbidden):
    """A person may not do this now. The reply says only "Not allowed now", whatever the reason
    and whether the number typed exists at all; `why` (access.keypad's reasons) goes to the
    audit only."""

    def __init__(self, why: str) -> None:
        super().__init__("Not allowed now", reason="not_allowed")
        self.why = why


class NotAuthenticated(DomainError):
    """The request could not be tied to a door: unsigned, unknown door, bad signature,
    replayed, or (signature fine, clock off) stale."""

    reason = "bad_signature"
    door_id: str | None = None  # set when the request named a door that exists


class CodeRejected(DomainError):
    """The typed code does not open: wrong (attempts_left > 0) or the code is no longer
    usable (expired, used, superseded, burned)."""

    def __init__(self, message: str, *, reason: str, attempts_left: int | None = None) -> None:
        super().__init__(message, reason=reason)
        self.attempts_left = attempts_left
        if attempts_left is not None:
            self.details["attempts_left"] = attempts_left


class Refused(DomainError):
    """Not now: wait `retry_after` seconds (lockouts, request limits, a busy challenge)."""

    def __init__(self, message: str, *, reason: str, retry_after: int) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class LockedOut(Refused):
    """Too many wrong codes for this door: `hard` ones wait for an administrator."""

    def __init__(self, *, retry_after: int, hard: bool = False) -> None:
        if hard:
            super().__init__(
                "too many wrong codes: an administrator must clear this door",
                reason="hard_lockout",
                retry_after=retry_after,
            )
        else:
            super().__init__(
                "too many wrong codes: wait before trying again", reason="locked_out", retry_after=retry_after
            )
        self.hard = hard


class RateLimited(Refused):
    def __init__(self, *, retry_after: int) -> None:
        super().__init__("too many code requests for this door", reason="rate_limited", retry_after=retry_after)


class InProgress(Refused):
    """The same request is being handled right now (a device resent it after a lost reply)."""

    def __init__(self) -> None:
        super().__init__(
            "this request is still being handled: send it again shortly", reason="in_progress", retry_after=1
        )


class Unavailable(DomainError):
    """A dependency (the database) cannot answer: not the client's fault, try again."""

    reason = "unavailable"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
