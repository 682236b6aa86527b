"""The one way a device request is authenticated: parse the signature headers, find the
door, check the signature with its secret, then check freshness. The API routes and the
lockout gate both call `authenticate`; only what it returns may be answered with a signed
reply (signing a reply to an unauthenticated request would hand a machine in the middle a
genuine-looking answer to show the door)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from smartdoor.crypto import Keyring
from smartdoor.doors.models import Door
from smartdoor.doors.service import door_key
from smartdoor.errors import NotAuthenticated
from smartdoor.signing.server import SignedParams, check_signature, is_fresh, parse_request_signature, reply_headers


def request_fingerprint(signature: str) -> str:
    """Names one signed request (its Signature header) in 128 bits: a resend of the identical
    request matches, another request with the same nonce does not."""
    return hashlib.sha256(signature.encode()).hexdigest()[:32]


FindDoor = Callable[[str], Awaitable[Door | None]]


@dataclass(frozen=True)
class Authenticated:
    """A request whose signature verified with `door`'s secret."""

    door: Door
    params: SignedParams
    signature: str  # the request's Signature header, which signed replies are bound to
    key: bytes
    now: datetime

    def signed_reply(self, status: int, payload: dict) -> tuple[bytes, dict[str, str]]:
        """The reply body and its signature headers, bound to this request."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = reply_headers(
            key=self.key,
            keyid=self.door["_id"],
            status=status,
            body=body,
            request_signature=self.signature,
            now=self.now,
        )
        return body, headers


class StaleRequest(NotAuthenticated):
    """Signed by the door, but its clock is off: the reply is signed and tells the server's
    time, so the door can set its clock and try again."""

    reason = "stale_request"

    def __init__(self, request: Authenticated, *, skew_seconds: int) -> None:
        server_time = int(request.now.timestamp())
        super().__init__(f"created is more than {skew_seconds} s from the server clock", server_time=server_time)
        self.request = request
        self.door_id = request.door["_id"]


async def authenticate(
    *,
    method: str,
    path: str,
    headers,
    body: bytes,
    now: datetime,
    find_door: FindDoor,
    keyring: Keyring,
    skew_seconds: int,
) -> Authenticated:
    params = parse_request_signature(headers, has_body=bool(body))
    door = await find_door(params.keyid)
    if door is None:
        raise NotAuthenticated("unknown keyid", reason="unknown_door")
    try:
        key = door_key(keyring, door)
        check_signature(params, key=key, method=method, path=path, headers=headers, body=body)
    except NotAuthenticated as refused:
        refused.door_id = door["_id"]  # an existing door's name: worth telling its administrator
        raise
    request = Authenticated(door, params, headers["signature"], key, now)
    if not is_fresh(params, now=now, skew_seconds=skew_seconds):
        raise StaleRequest(request, skew_seconds=skew_seconds)
    return request
