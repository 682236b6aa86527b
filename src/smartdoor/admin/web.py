"""What a request says about where it comes from: the client's address (believing
X-Forwarded-For only from TRUSTED_PROXIES), whether it came over https, the origin the admin
app is served at, and the session cookie's name and flags."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from smartdoor.server.admission import client_key
from smartdoor.settings import Settings

COOKIE = "sd_admin"
SECURE_COOKIE = "__Host-sd_admin"  # __Host-: Secure, Path=/, no Domain; a sibling host cannot set it
LOGIN_COOKIE = "sd_login"  # pre-login CSRF (double submit)


def is_trusted_proxy(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in settings.trusted_proxy_networks)


def client_address(request: Request, settings: Settings) -> str | None:
    """The address of the browser: the peer, or behind trusted proxies the nearest address in
    X-Forwarded-For that is not one of them (anything further left may be forged)."""
    peer = request.client.host if request.client else None
    if peer is None or not is_trusted_proxy(peer, settings):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop, settings):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: count it as the proxy
    return peer


def client_group(request: Request, settings: Settings) -> str:
    """What the login limits count as one source: an IPv4 address or an IPv6 /64."""
    address = client_address(request, settings)
    return client_key((address, 0) if address else None)


def is_https(request: Request, settings: Settings) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    return is_trusted_proxy(peer, settings) and request.headers.get("x-forwarded-proto", "").lower() == "https"


def secure_cookies(request: Request, settings: Settings) -> bool:
    return settings.admin_secure_cookies or is_https(request, settings)


def origin(request: Request, settings: Settings) -> str:
    """scheme://host[:port] the admin pages are served at: ADMIN_URL, else what the request says."""
    if settings.admin_url:
        return settings.admin_url.rstrip("/")
    scheme = "https" if is_https(request, settings) else "http"
    return f"{scheme}://{request.headers.get('host', '')}"


def rp_id(request: Request, settings: Settings) -> str | None:
    """The WebAuthn relying party id (the host name), or None where passkeys cannot work: an IP
    address, or plain http other than localhost (browsers allow WebAuthn only in secure contexts)."""
    parts = urlsplit(origin(request, settings))
    try:
        host = parts.hostname or ""
    except ValueError:
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if not host or (parts.scheme != "https" and host != "localhost"):
        return None
    return host


def cookie_name(request: Request, settings: Settings) -> str:
    return SECURE_COOKIE if secure_cookies(request, settings) else COOKIE


def session_token(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(cookie_name(request, settings))


def set_session_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure on
    https; no Max-Age: the server decides when a session ends."""
    response.set_cookie(
        cookie_name(request, settings), token, path="/", httponly=True, samesite="strict",
        secure=secure_cookies(request, settings),
    )  # fmt: skip


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(request, settings), path="/", httponly=True, samesite="strict",
        secure=secure_cookies(request, settings),
    )  # fmt: skip
