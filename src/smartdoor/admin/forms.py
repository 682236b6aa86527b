"""Reading what a browser posts: a form (application/x-www-form-urlencoded) or, from the
pages' own script, JSON. Every state-changing request goes through here, so here is where it
must prove it comes from our own page: a CSRF token tied to the session (or, before login, to
a cookie) and, where the browser says, our own origin. Only the fields a route names are
accepted: an extra field (say `role=admin`) is refused, never silently applied."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from smartdoor.admin.web import origin
from smartdoor.errors import BadRequest, Forbidden, InvalidInput
from smartdoor.settings import Settings

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FIELDS = 400  # a week's schedule grid is 7 x 24 checkboxes


def csrf_token(key: bytes, bound_to: str) -> str:
    """The token a page carries: an HMAC of what it is bound to (a session id hash, or the
    pre-login cookie) under a key derived from SECRET_KEY; nothing to store."""
    return hmac.new(key, b"csrf|" + bound_to.encode(), hashlib.sha256).hexdigest()


def check_origin(request: Request, settings: Settings) -> None:
    """A browser names the page a request comes from (Origin, Sec-Fetch-Site): if it says
    another site, the request is refused whatever it carries."""
    sent = request.headers.get("origin")
    if sent is not None and sent.rstrip("/").lower() != origin(request, settings).lower():
        raise Forbidden("this request did not come from the admin pages", reason="cross_origin")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("this request did not come from the admin pages", reason="cross_origin")


def _check_token(sent: str | None, expected: str) -> None:
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("the form is out of date or not ours: reload the page and try again", reason="csrf")


async def read_form(
    request: Request,
    settings: Settings,
    *,
    csrf: str,
    fields: frozenset[str] | set[str] = frozenset(),
    lists: frozenset[str] | set[str] = frozenset(),
) -> dict:
    """The posted form: `fields` as strings (absent ones missing), `lists` as lists of strings."""
    check_origin(request, settings)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise BadRequest("send the form as application/x-www-form-urlencoded", reason="unsupported_media_type")
    try:
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not readable") from None
    tokens = [v for k, v in pairs if k == CSRF_FIELD]
    _check_token(tokens[0] if len(tokens) == 1 else None, csrf)
    form: dict = {name: [] for name in lists}
    for name, value in pairs:
        if name == CSRF_FIELD:
            continue
        if name in lists:
            form[name].append(value)
        elif name in fields:
            if name in form:
                raise InvalidInput(f"{name} was sent twice")
            form[name] = value
        else:
            raise InvalidInput(f"unexpected field {name[:40]!r}")
    return form


async def read_json(request: Request, settings: Settings, *, csrf: str) -> dict:
    """A JSON object from the pages' script, its CSRF token in the X-CSRF-Token header."""
    check_origin(request, settings)
    _check_token(request.headers.get(CSRF_HEADER), csrf)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise BadRequest("send JSON", reason="unsupported_media_type")
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def local_path(target: str | None, default: str = "/admin") -> str:
    """Where to go after login: only a path of the admin app itself (no open redirect)."""
    if not target or not target.startswith("/admin") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == "/admin" or parts.path.startswith("/admin/")):
        return default
    return target
