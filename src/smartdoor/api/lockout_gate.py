"""Refuses a code request or verify for a door this process has seen locked out, before
routing, dependencies or the database: hammering a locked door costs a signature check and
nothing else. Anything the gate cannot settle itself (not signed, unknown door, bad
signature, stale, not locked out) goes on to the app unchanged, which answers and audits it."""

from __future__ import annotations

from starlette.datastructures import Headers

from smartdoor.api.device import reply_signer
from smartdoor.doors.service import door_key
from smartdoor.errors import ApiError
from smartdoor.signing.server import check_freshness, check_signature, parse_request_signature

CODE_PATHS = frozenset({"/api/v1/otp/request", "/api/v1/otp/verify"})


class LockoutGate:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in CODE_PATHS:
            return await self.app(scope, receive, send)
        services = scope["app"].state.services
        headers = Headers(scope=scope)
        try:
            params = parse_request_signature(headers, has_body=True)
        except ApiError:
            return await self.app(scope, receive, send)
        now = services.clock.now()
        door = services.lockouts.door(params.keyid, now)
        if door is None:
            return await self.app(scope, receive, send)
        body, receive = await _read_body(receive)
        try:
            check_freshness(params, now=now, skew_seconds=services.settings.clock_skew_seconds)
            key = door_key(services.keyring, door)
            check_signature(params, key=key, method="POST", path=scope["path"], headers=headers, body=body)
        except ApiError:
            return await self.app(scope, receive, send)
        refusal = services.lockouts.refuse(params.keyid, now)
        sign = reply_signer(key, door["_id"], headers["signature"], now)
        await sign(refusal.status, refusal.payload(), refusal.headers())(scope, receive, send)


async def _read_body(receive):
    """The whole body, and a receive that plays it again for the app."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
