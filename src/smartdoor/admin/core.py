"""What every admin route shares: the app's admin state, who is asking (the Viewer), the
access rules (logged in, role), rendering, and turning errors into pages."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from smartdoor.admin import sessions
from smartdoor.admin.forms import csrf_token, read_form
from smartdoor.admin.live import StreamSlots
from smartdoor.admin.web import client_address, session_token
from smartdoor.api.deps import Services
from smartdoor.api.errors import error_payload, http_status
from smartdoor.audit import service as audit
from smartdoor.crypto import derive_key
from smartdoor.errors import DomainError, Forbidden, InvalidInput, NotAuthenticated
from smartdoor.settings import Settings

HERE = Path(__file__).resolve().parent
LOGIN_ROLES = ("admin", "member")  # guests need no login
log = logging.getLogger(__name__)
MAX_ID = 40  # longer than any id the app makes (door, person, credential)

templates = Environment(
    loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(default=True), enable_async=False
)


@dataclass
class AdminState:
    settings: Settings
    live_slots: StreamSlots = field(init=False)

    def __post_init__(self) -> None:
        self.live_slots = StreamSlots(self.settings.admin_max_live_streams)

    @cached_property
    def csrf_key(self) -> bytes:
        return derive_key(self.settings.master_key(), "admin-csrf")

    @cached_property
    def login_code_key(self) -> bytes:
        return derive_key(self.settings.master_key(), "admin-login-code")


def admin_state(request: Request) -> AdminState:
    return request.app.state.admin


def services(request: Request) -> Services:
    return request.app.state.services


class LoginRequired(NotAuthenticated):
    reason = "login_required"


@dataclass
class Viewer:
    """A person with a full session, and what their pages need."""

    person: dict
    session: dict
    csrf: str

    @property
    def id(self) -> str:
        return self.person["_id"]

    @property
    def is_admin(self) -> bool:
        return self.person["role"] == "admin"


async def session_of(request: Request) -> dict | None:
    svc = services(request)
    return await sessions.load_session(
        svc.db, session_token(request, svc.settings), settings=svc.settings, now=svc.clock.now()
    )


async def viewer_of(request: Request) -> Viewer | None:
    """The logged-in person, if the session is full and the person may still log in."""
    session = await session_of(request)
    if session is None or session["stage"] != "full":
        return None
    person = await services(request).db.people.find_one({"_id": session["person"]})
    if person is None or not person.get("active") or person.get("role") not in LOGIN_ROLES:
        await sessions.end_session(services(request).db, session["_id"])
        return None
    return Viewer(person=person, session=session, csrf=csrf_token(admin_state(request).csrf_key, session["_id"]))


async def require_login(request: Request) -> Viewer:
    viewer = await viewer_of(request)
    if viewer is None:
        raise LoginRequired("log in first")
    return viewer


async def require_admin(request: Request) -> Viewer:
    viewer = await require_login(request)
    if not viewer.is_admin:
        raise Forbidden("only an administrator may do this")
    return viewer


async def admin_form(
    request: Request, *, fields: frozenset[str] | set[str] = frozenset()
) -> tuple[Viewer, Services, dict]:
    """An administrator's form post: the viewer, the services, and the form (read_form: our own
    page's CSRF token and origin, only `fields`). The role is checked first, so a member's post is
    refused whatever it carries."""
    viewer = await require_admin(request)
    svc = services(request)
    return viewer, svc, await read_form(request, svc.settings, csrf=viewer.csrf, fields=fields)


def path_id(value: str, *, what: str) -> str:
    """An id from the URL. One longer than any id we make names nothing: refused as "no such
    ..." before the database is asked."""
    if len(value) > MAX_ID:
        raise InvalidInput(f"no such {what}")
    return value


async def audit_action(request: Request, viewer: Viewer, event: str, *, outcome: str = "info", **details) -> None:
    """Every administrator action: who (`actor`), from where, on what (`person`, `door`, ...)."""
    svc = services(request)
    await audit.record(
        svc.db, now=svc.clock.now(), event=event, outcome=outcome, client=client_address(request, svc.settings),
        actor=viewer.id, **details,
    )  # fmt: skip


def page(request: Request, template: str, *, viewer: Viewer | None = None, status: int = 200, **context) -> Response:
    html = templates.get_template(template).render(
        viewer=viewer, csrf=viewer.csrf if viewer else context.pop("csrf", None), path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.headers.get(
        "content-type", ""
    ).startswith("application/json")


def error_reply(request: Request, error: DomainError) -> Response:
    if isinstance(error, LoginRequired):
        if request.method == "GET" and not _wants_json(request):
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&")
            response: Response = redirect(f"/admin/login?next={target}")
        elif _wants_json(request):
            response = JSONResponse(error_payload(error), status_code=401)
        else:
            response = page(request, "error.html", status=401, message=error.message, status_code=401)
        return response
    status = http_status(error)
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if _wants_json(request):
        return JSONResponse(error_payload(error), status_code=status, headers=headers)
    reply = page(request, "error.html", status=status, message=error.message, status_code=status)
    reply.headers.update(headers)
    return reply


class AdminRoute(APIRoute):
    """Errors become pages (or JSON for the pages' script), never a 500 for what a client sent."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as error:
                return error_reply(request, error)
            except RequestValidationError as invalid:
                fields = "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in invalid.errors())
                return error_reply(request, InvalidInput(fields[:300]))

        return guarded
