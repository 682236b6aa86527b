"""The shape of a door's record in MongoDB (collection `doors`).

A door holds its one live code (`pending`): a door never has two, a new request replaces the
old one. Keeping the code inside the door's record lets one conditional update count an
attempt against both the code and the door's lockout, which no pair of records could do
atomically. `rev` grows with every change the code engine decides on; the engine writes
only `{_id, rev}` it has read (optimistic concurrency), so two processes can never both
act on the same state. Recently ended codes stay in `ended` (a short list) so a late verify
learns why its code no longer works, and a resent request gets its original reply."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NotRequired, TypedDict

Action = Literal["lock", "unlock"]
DoorState = Literal["locked", "unlocked", "jammed"]
EndStatus = Literal["used", "superseded", "expired", "burned", "withdrawn"]

KEEP_ENDED = 3  # ended codes a door remembers (why a late verify fails, replies to resends); small: the
# record is read and written on every attempt


class StoredOutcome(TypedDict):
    """The outcome of one verify request, so the identical request sent again (after a lost
    reply) gets it again instead of a second attempt."""

    sig: str  # signing.authenticate.request_fingerprint: only the identical request matches
    done: bool  # False while the comparison is under way
    reason: NotRequired[str]  # "success" or the refusal's reason
    action: NotRequired[Action]
    attempts_left: NotRequired[int]
    until: NotRequired[datetime]  # end of the lockout this attempt started


class PendingCode(TypedDict):
    id: str
    action: Action
    code_hash: str  # HMAC-SHA-256 under the door's code key, bound to id; never the code
    digits: int
    attempts: int  # comparisons made or under way (counted before comparing)
    created_at: datetime
    expires_at: datetime
    replies: dict[str, StoredOutcome]  # by request nonce
    person: NotRequired[str]  # who asked at the keypad (a person code); absent for a shared code
    grant: NotRequired[str]  # the grant that allowed it: its use is counted when the code is used
    max_uses: NotRequired[int]  # that grant's maximum when the code was issued


class EndedCode(TypedDict):
    id: str
    status: EndStatus
    ended_at: datetime
    replies: dict[str, StoredOutcome]
    person: NotRequired[str]


class RemoteCommand(TypedDict):
    """A lock/unlock queued by an administrator, delivered in the door's next signed state reply
    and cleared when the door reports it done."""

    id: str
    action: Action
    by: str  # the person id of who queued it, "cli" or "home_assistant"
    at: datetime


class OfflineCredential(TypedDict):
    """A TOTP secret the door checks by itself while offline (doors.offline)."""

    id: str
    label: str
    sealed_secret: bytes
    created_at: datetime
    valid_from: NotRequired[datetime]
    valid_until: NotRequired[datetime]
    person: NotRequired[str]  # whose it is: their offline uses are audited and told under their name


class Door(TypedDict):
    _id: str
    name: str
    recipients: list[str]
    sealed_secret: bytes  # the device secret, AES-GCM under a key derived from SECRET_KEY
    sealed_code_key: NotRequired[bytes]  # the key code hashes are made with, sealed the same way
    created_at: datetime
    rev: NotRequired[int]
    legacy: NotRequired[bool]  # the door of the original Arduino sketch's routes
    failures: int  # consecutive failed attempts; only a success or an administrator resets them
    locked_until: datetime | None
    hard_locked: bool
    lockout_notified: bool
    recent_requests: list[datetime]  # code requests inside the request window
    pending: NotRequired[PendingCode | None]
    ended: NotRequired[list[EndedCode]]
    state: DoorState | None
    state_at: NotRequired[datetime]
    offline_credentials: NotRequired[list[OfflineCredential]]
    offline_version: NotRequired[int]  # grows with every change of offline_credentials
    # people and access (smartdoor.access); absent on doors made before, read with these defaults
    timezone: NotRequired[str]  # IANA name its grants' weekly windows are read in; "UTC"
    shared_codes: NotRequired[bool]  # a code request naming no person goes to `recipients`; True
    remote_unlock: NotRequired[bool]  # an administrator may unlock it from afar; True
    watchers: NotRequired[list[str]]  # person ids mailed when it unlocks or locks out; []
    command: NotRequired[RemoteCommand | None]
    grant_uses: NotRequired[dict[str, int]]  # grant id → codes of that grant used here
