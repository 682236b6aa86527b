"""Refuses a code request or verify for a door this process has seen locked out, before
routing, dependencies or the database: hammering a locked door costs a signature check and
nothing else. The request is authenticated the one way every device request is
(signing.authenticate), with the door taken from memory; anything the gate cannot settle
itself (not signed, unknown door, bad signature, stale, not locked out) goes on to the app
unchanged, which answers and audits it."""

from __future__ import annotations

from starlette.datastructures import Headers

from doorlogic.client import PATH_REQUEST, PATH_VERIFY
from smartdoor.api.errors import error_payload, http_status, json_reply
from smartdoor.errors import NotAuthenticated
from smartdoor.signing.authenticate import authenticate
from smartdoor.signing.server import parse_request_signature

CODE_PATHS = frozenset({PATH_REQUEST, PATH_VERIFY})


class LockoutGate:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in CODE_PATHS:
            return await self.app(scope, receive, send)
        services = scope["app"].state.services
        headers = Headers(scope=scope)
        try:
            keyid = parse_request_signature(headers, has_body=True).keyid
        except NotAuthenticated:
            return await self.app(scope, receive, send)
        now = services.clock.now()
        door = services.lockouts.door(keyid, now)
        if door is None:
            return await self.app(scope, receive, send)
        body, receive = await _read_body(receive)

        async def remembered(_door_id: str):
            return door

        try:
            device = await authenticate(
                method="POST",
                path=scope["path"],
                headers=headers,
                body=body,
                now=now,
                find_door=remembered,
                keyring=services.keyring,
                skew_seconds=services.settings.clock_skew_seconds,
            )
        except NotAuthenticated:
            return await self.app(scope, receive, send)
        refusal = services.lockouts.refuse(keyid, now)
        reply = json_reply(http_status(refusal), error_payload(refusal), signer=device)
        await reply(scope, receive, send)


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
