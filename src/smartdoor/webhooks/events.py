"""Which audit events become webhook events, and the JSON they are sent as. Pure: the audit
event in, the payload out (names are filled in by the caller, who reads them).

    {"version": 1, "id": "wh_…", "type": "unlock" | "refusal" | "lockout" | "door_offline",
     "at": "2026-11-26T07:00:00Z", "door": {"id", "name"}, "person": {"id", "name"} | null,
     "details": {…}}

`id` is unique per event and the same on every retry and for every receiver: a receiver
drops a repeat by it. No code, secret or address is ever in a payload."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

TYPES = ("unlock", "refusal", "lockout", "door_offline")
REFUSED_VERIFY = ("refused", "failure")  # a verify that did not open: wrong, expired, used, locked out…


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def classify(event: dict) -> tuple[str, dict] | None:
    """(type, details) for an audit event a webhook is sent for, else None."""
    name, outcome, action = event.get("event"), event.get("outcome"), event.get("action")
    if name == "verify" and outcome == "success" and action == "unlock":
        return "unlock", {"how": "code"}
    if name == "exit_button":
        return "unlock", {"how": "exit_button"}
    if name == "offline_use" and outcome == "success" and action == "unlock":
        return "unlock", {"how": "offline_code", "label": event.get("label")}
    if name == "remote_command" and outcome == "success" and action == "unlock":
        return "unlock", {"how": "remote", "by": event.get("actor")}
    if name == "code_request" and outcome == "refused":
        return "refusal", {"stage": "code_request", "action": action, "reason": event.get("reason")}
    if name == "wrong_code":
        return "refusal", {"stage": "verify", "action": action, "reason": "wrong_code",
                           "attempts_left": event.get("attempts_left")}  # fmt: skip
    if name == "verify" and outcome in REFUSED_VERIFY:
        return "refusal", {"stage": "verify", "action": action, "reason": event.get("reason")}
    if name == "offline_wrong_codes":
        return "refusal", {"stage": "offline", "reason": "wrong_code", "count": event.get("count")}
    if name in ("lockout", "hard_lockout"):
        return "lockout", {"failures": event.get("failures"), "wait_seconds": event.get("wait_seconds"),
                           "hard": name == "hard_lockout"}  # fmt: skip
    if name == "door_offline":
        last_seen = event.get("last_seen")
        return "door_offline", {"last_seen": iso(last_seen) if isinstance(last_seen, datetime) else None}
    return None


def payload(event: dict, *, kind: str, details: dict, door_name: str | None, person_name: str | None) -> dict:
    person = event.get("person")
    return {
        "version": 1,
        "id": "wh_" + secrets.token_urlsafe(12),
        "type": kind,
        "at": iso(event["at"]),
        "door": {"id": event.get("door"), "name": door_name},
        "person": {"id": person, "name": person_name} if person else None,
        "details": {k: v for k, v in details.items() if v is not None},
    }
