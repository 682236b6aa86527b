"""Who may press the simulated door's keys: only the demo's own page. A web page the viewer
happens to visit can post to the demo too (a cross-origin text/plain POST needs no CORS
preflight), and a DNS name rebound to 127.0.0.1 makes it look same-origin. So a state-changing
demo request must name the demo's listening address as its Host, come from that origin when the
browser says where it comes from (Origin, Sec-Fetch-Site), be application/json, and carry the
token rendered into the page (unguessable, compared in constant time)."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse

TOKEN_HEADER = "X-Demo-Token"
WILDCARDS = ("", "0.0.0.0", "::")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether listening on `host` keeps the demo to this machine."""
    address = _ip(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def _refused(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "error": error, "message": message}, status_code=status)


@dataclass(frozen=True)
class SameOrigin:
    host: str  # the address the demo listens on, as given to uvicorn
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def host_allowed(self, host_header: str) -> bool:
        """Host must be the listening address (any IP of this machine when it listens on all of
        them, which no rebound DNS name is), or localhost when it listens on loopback."""
        try:
            parts = urlsplit("//" + host_header)
            name, port = parts.hostname or "", parts.port or 80
        except ValueError:
            return False
        if port != self.port or parts.username is not None or parts.path:
            return False
        if self.host in WILDCARDS:
            return _ip(name) is not None or name == "localhost"
        if name == "localhost":
            return is_loopback(self.host)
        listening = _ip(self.host)
        return name == self.host.lower() or (listening is not None and _ip(name) == listening)

    def refusal(self, request: Request) -> JSONResponse | None:
        """None for the demo page's own request, else the 403/415 JSON reply to send."""
        host = request.headers.get("host", "")
        if not self.host_allowed(host):
            return _refused(403, "forbidden", "Host is not this demo's address")
        origin = request.headers.get("origin")
        if origin is not None and origin.lower() != "http://" + host.lower():
            return _refused(403, "forbidden", "only the demo's own page may do this")
        if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
            return _refused(403, "forbidden", "only the demo's own page may do this")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _refused(415, "unsupported_media_type", "the body must be application/json")
        sent = request.headers.get(TOKEN_HEADER, "")
        if not secrets.compare_digest(sent.encode(), self.token.encode()):
            return _refused(403, "forbidden", "missing or wrong page token: reload the page")
        return None
