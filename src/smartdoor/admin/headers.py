"""Security headers on every /admin response: a CSP that allows only our own script and style
files (no inline script, no other origin: a door's LAN may have no internet, and injected
markup runs nothing), no framing, no sniffing, no referrer beyond our origin, and no caching
of pages (they show secrets once, and what a person may see)."""

from __future__ import annotations

from smartdoor.admin.web import is_trusted_proxy
from smartdoor.settings import Settings

PREFIX = "/admin"
STATIC_PREFIX = "/admin/static/"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
COMMON = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")


class AdminHeaders:
    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _https(self, scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        peer = (scope.get("client") or ("",))[0]
        proto = dict(scope.get("headers") or []).get(b"x-forwarded-proto", b"")
        return is_trusted_proxy(peer, self.settings) and proto.lower() == b"https"

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            return await self.app(scope, receive, send)
        static = path.startswith(STATIC_PREFIX)
        extra = list(COMMON)
        if not static:
            extra.append((b"cache-control", b"no-store"))
        if self._https(scope):
            extra.append(HSTS)
        names = {name for name, _ in extra}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
