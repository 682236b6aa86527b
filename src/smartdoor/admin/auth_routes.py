"""Logging in (password, then a passkey or an e-mailed code), logging out, the one-time set-up
link, and registering passkeys."""

from __future__ import annotations

import json
import secrets

from bson.binary import Binary
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from smartdoor.admin import login_codes, passkeys, passwords, sessions, setup_links, throttle
from smartdoor.admin.core import (
    LOGIN_ROLES,
    AdminRoute,
    LoginRequired,
    admin_state,
    audit_action,
    page,
    redirect,
    require_login,
    services,
    session_of,
    viewer_of,
)
from smartdoor.admin.forms import check_origin, csrf_token, local_path, read_form, read_json
from smartdoor.admin.web import (
    LOGIN_COOKIE,
    clear_session_cookie,
    client_address,
    client_group,
    origin,
    rp_id,
    secure_cookies,
    set_session_cookie,
)
from smartdoor.audit import service as audit
from smartdoor.errors import CodeRejected, Forbidden, InvalidInput, NotFound
from smartdoor.people.service import find_by_email

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
MAX_EMAIL = 254


def _login_cookie(request: Request) -> str | None:
    value = request.cookies.get(LOGIN_COOKIE)
    return value if value and 20 <= len(value) <= 64 and value.isascii() else None


async def _audit_login(request: Request, *, outcome: str, person: str | None, **details) -> None:
    svc = services(request)
    await audit.record(
        svc.db, now=svc.clock.now(), event="admin_login", outcome=outcome,
        client=client_address(request, svc.settings), person=person, **details,
    )  # fmt: skip


def _login_page(request: Request, *, cookie: str, next_url: str, status: int = 200, error: str | None = None):
    token = csrf_token(admin_state(request).csrf_key, "login|" + cookie)
    response = page(request, "login.html", csrf=token, next=next_url, error=error, status=status)
    response.set_cookie(
        LOGIN_COOKIE, cookie, path="/admin", max_age=3600, httponly=True, samesite="strict",
        secure=secure_cookies(request, services(request).settings),
    )  # fmt: skip
    return response


@router.get("/login")
async def login_page(request: Request, next: str = "/admin"):
    if await viewer_of(request) is not None:
        return redirect(local_path(next))
    return _login_page(request, cookie=_login_cookie(request) or secrets.token_urlsafe(24), next_url=local_path(next))


@router.post("/login")
async def login(request: Request):
    svc = services(request)
    cookie = _login_cookie(request)
    if cookie is None:
        raise Forbidden("the login form is out of date: reload the page", reason="csrf")
    form = await read_form(
        request, svc.settings, csrf=csrf_token(admin_state(request).csrf_key, "login|" + cookie),
        fields={"email", "password", "next"},
    )  # fmt: skip
    email = form.get("email", "").strip().lower()[:MAX_EMAIL]
    next_url = local_path(form.get("next"))
    now = svc.clock.now()
    account = throttle.account_key(email)
    source = client_group(request, svc.settings)
    await throttle.count_login_attempt(svc.db, account=account, client=source, now=now)
    person = await find_by_email(svc.db, email) if email else None
    may_log_in = person is not None and person.get("active") and person.get("role") in LOGIN_ROLES
    stored = person.get("password_hash") if person and may_log_in else None
    if not await passwords.verify_password(stored, form.get("password", "")):
        await _audit_login(request, outcome="failure", person=person["_id"] if person else None, reason="password")
        return _login_page(request, cookie=cookie, next_url=next_url, status=401,
                           error="Wrong e-mail address or password.")  # fmt: skip
    assert person is not None and stored is not None
    await throttle.give_back_login_attempt(svc.db, account=account, client=source)
    if passwords.needs_rehash(stored):
        new_hash = await passwords.hash_password(form["password"])
        await svc.db.people.update_one({"_id": person["_id"]}, {"$set": {"password_hash": new_hash}})
    token = await sessions.create_session(
        svc.db, person_id=person["_id"], stage="second_factor", settings=svc.settings, now=now,
        client=client_address(request, svc.settings), next=next_url,
    )  # fmt: skip
    response = redirect("/admin/login/verify")
    set_session_cookie(response, request, svc.settings, token)
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


async def pending(request: Request, stage: str) -> tuple[dict, dict]:
    """The session in this stage of logging in or setting up, and its person."""
    session = await session_of(request)
    if session is None or session["stage"] != stage:
        raise LoginRequired("log in first")
    person = await services(request).db.people.find_one({"_id": session["person"]})
    if person is None or not person.get("active") or person.get("role") not in LOGIN_ROLES:
        await sessions.end_session(services(request).db, session["_id"])
        raise LoginRequired("log in first")
    return session, person


def _pending_csrf(request: Request, session: dict) -> str:
    return csrf_token(admin_state(request).csrf_key, session["_id"])


async def _verify_page(request: Request, session: dict, person: dict, *, status: int = 200, error: str | None = None):
    svc = services(request)
    keys = await passkeys.of_person(svc.db, person["_id"])
    return page(
        request, "verify.html", csrf=_pending_csrf(request, session), person=person, status=status, error=error,
        has_passkeys=bool(keys), passkeys_possible=rp_id(request, svc.settings) is not None,
        code_sent=bool(session.get("mail_code")), mail_configured=svc.settings.mail_configured,
    )  # fmt: skip


@router.get("/login/verify")
async def verify_page(request: Request):
    session, person = await pending(request, "second_factor")
    return await _verify_page(request, session, person)


async def _finish(request: Request, session: dict, person: dict, *, stage_done: str, method: str) -> str:
    """The pending session ends; a full one, with a new token, begins. Returns its token."""
    svc = services(request)
    now = svc.clock.now()
    await throttle.reset(svc.db, key=throttle.account_key(person["email"]))
    await sessions.end_session(svc.db, session["_id"])
    token = await sessions.create_session(
        svc.db, person_id=person["_id"], stage="full", settings=svc.settings, now=now,
        client=client_address(request, svc.settings),
    )  # fmt: skip
    if stage_done == "second_factor":
        await _audit_login(request, outcome="success", person=person["_id"], method=method)
    return token


def _landing(person: dict, next_url: str | None) -> str:
    if person["role"] != "admin":
        return "/admin/me"
    return local_path(next_url)


@router.post("/login/passkey/options")
async def passkey_login_options(request: Request):
    svc = services(request)
    session, person = await pending(request, "second_factor")
    await read_json(request, svc.settings, csrf=_pending_csrf(request, session))
    rp = rp_id(request, svc.settings)
    found = await passkeys.authentication_options(svc.db, person_id=person["_id"], rp_id=rp) if rp else None
    if found is None:
        raise NotFound("no passkey can be used here: use the e-mailed code", reason="no_passkey")
    options, challenge = found
    await sessions.update_session(svc.db, session["_id"], auth_challenge=Binary(challenge))
    return JSONResponse(options)


@router.post("/login/passkey")
async def passkey_login(request: Request):
    svc = services(request)
    session, person = await pending(request, "second_factor")
    body = await read_json(request, svc.settings, csrf=_pending_csrf(request, session))
    challenge = session.get("auth_challenge")
    rp = rp_id(request, svc.settings)
    if challenge is None or rp is None:
        raise InvalidInput("ask for the passkey options first")
    now = svc.clock.now()
    account = throttle.account_key(person["email"])
    source = client_group(request, svc.settings)
    await throttle.count_login_attempt(svc.db, account=account, client=source, now=now)
    # the challenge is used once, whatever the outcome
    taken = await svc.db.admin_sessions.update_one(
        {"_id": session["_id"], "auth_challenge": challenge}, {"$set": {"auth_challenge": None}}
    )
    used = None
    if taken.modified_count:
        used = await passkeys.authenticate(
            svc.db, person_id=person["_id"], credential=body.get("credential"), challenge=bytes(challenge),
            rp_id=rp, origin=origin(request, svc.settings), now=now,
        )  # fmt: skip
    if used is None:
        await _audit_login(request, outcome="failure", person=person["_id"], reason="passkey")
        return JSONResponse(
            {"status": "error", "error": "passkey_refused", "message": "The passkey was not accepted."}, status_code=401
        )
    await throttle.give_back_login_attempt(svc.db, account=account, client=source)
    token = await _finish(request, session, person, stage_done="second_factor", method="passkey")
    response = JSONResponse({"status": "ok", "next": _landing(person, session.get("next"))})
    set_session_cookie(response, request, svc.settings, token)
    return response


@router.post("/login/email")
async def send_login_code(request: Request):
    svc = services(request)
    session, person = await pending(request, "second_factor")
    await read_form(request, svc.settings, csrf=_pending_csrf(request, session))
    now = svc.clock.now()
    await login_codes.count_mail(svc.db, person_id=person["_id"], now=now)
    code, kept = login_codes.new_code(admin_state(request).login_code_key, now=now)
    await sessions.update_session(svc.db, session["_id"], mail_code=kept)
    await login_codes.send(
        svc.mailer, sender=svc.settings.mail_from, to=person["email"], code=code, expires_at=kept["expires_at"]
    )
    await audit.record(
        svc.db, now=now, event="admin_login_code_sent", outcome="info", person=person["_id"],
        client=client_address(request, svc.settings),
    )  # fmt: skip
    return redirect("/admin/login/verify")


@router.post("/login/code")
async def login_with_code(request: Request):
    svc = services(request)
    session, person = await pending(request, "second_factor")
    form = await read_form(request, svc.settings, csrf=_pending_csrf(request, session), fields={"code"})
    now = svc.clock.now()
    account = throttle.account_key(person["email"])
    source = client_group(request, svc.settings)
    await throttle.count_login_attempt(svc.db, account=account, client=source, now=now)
    try:
        await login_codes.check(
            svc.db, session_id=session["_id"], code=form.get("code"), key=admin_state(request).login_code_key, now=now
        )
    except CodeRejected as refused:
        await _audit_login(request, outcome="failure", person=person["_id"], reason=f"email_code_{refused.reason}")
        session = await svc.db.admin_sessions.find_one({"_id": session["_id"]}) or session
        return await _verify_page(request, session, person, status=401, error=refused.message)
    await throttle.give_back_login_attempt(svc.db, account=account, client=source)
    token = await _finish(request, session, person, stage_done="second_factor", method="email_code")
    response = redirect(_landing(person, session.get("next")))
    set_session_cookie(response, request, svc.settings, token)
    return response


@router.post("/logout")
async def logout(request: Request):
    viewer = await require_login(request)
    svc = services(request)
    await read_form(request, svc.settings, csrf=viewer.csrf)
    await sessions.end_session(svc.db, viewer.session["_id"])
    await audit_action(request, viewer, "admin_logout", person=viewer.id)
    response = redirect("/admin/login")
    clear_session_cookie(response, request, svc.settings)
    return response


@router.post("/logout-everywhere")
async def logout_everywhere(request: Request):
    viewer = await require_login(request)
    svc = services(request)
    await read_form(request, svc.settings, csrf=viewer.csrf)
    ended = await sessions.end_all_sessions(svc.db, person_id=viewer.id)
    await audit_action(request, viewer, "admin_logout_everywhere", person=viewer.id, sessions=ended)
    response = redirect("/admin/login")
    clear_session_cookie(response, request, svc.settings)
    return response


# --- the one-time set-up link ---


@router.get("/setup")
async def setup_page(request: Request):
    return page(request, "setup.html")


@router.post("/setup/start")
async def setup_start(request: Request):
    """The page's script posts the token it read from the link's fragment."""
    svc = services(request)
    check_origin(request, svc.settings)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise InvalidInput("send JSON")
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    now = svc.clock.now()
    source = throttle.source_key(client_group(request, svc.settings))
    await throttle.count_attempt(svc.db, key=source, per_wait=throttle.LIMITS.source_per_wait, now=now)
    person_id = await setup_links.consume_link(svc.db, token=body.get("token") if isinstance(body, dict) else None,
                                               now=now)  # fmt: skip
    person = await svc.db.people.find_one({"_id": person_id}) if person_id else None
    if person is None or not person.get("active") or person.get("role") not in LOGIN_ROLES:
        return JSONResponse(
            {"status": "error", "error": "invalid_link",
             "message": "This set-up link does not work: it was used, has expired or was replaced."},
            status_code=410,
        )  # fmt: skip
    await throttle.give_back(svc.db, key=source, per_wait=throttle.LIMITS.source_per_wait)
    token = await sessions.create_session(
        svc.db, person_id=person["_id"], stage="setup", settings=svc.settings, now=now,
        client=client_address(request, svc.settings), password_set=False,
    )  # fmt: skip
    await audit.record(
        svc.db, now=now, event="setup_link_used", outcome="info", person=person["_id"], actor=person["_id"],
        client=client_address(request, svc.settings),
    )  # fmt: skip
    response = JSONResponse({"status": "ok", "next": "/admin/setup/password"})
    set_session_cookie(response, request, svc.settings, token)
    return response


@router.get("/setup/password")
async def setup_password_page(request: Request):
    session, person = await pending(request, "setup")
    return page(request, "setup_password.html", csrf=_pending_csrf(request, session), person=person)


@router.post("/setup/password")
async def setup_password(request: Request):
    svc = services(request)
    session, person = await pending(request, "setup")
    form = await read_form(request, svc.settings, csrf=_pending_csrf(request, session), fields={"password", "confirm"})
    try:
        new_hash = await _new_password_hash(form, person)
    except InvalidInput as bad:
        return page(request, "setup_password.html", csrf=_pending_csrf(request, session), person=person,
                    error=bad.message, status=422)  # fmt: skip
    await svc.db.people.update_one({"_id": person["_id"]}, {"$set": {"password_hash": new_hash}})
    await sessions.update_session(svc.db, session["_id"], password_set=True)
    await audit.record(
        svc.db, now=svc.clock.now(), event="password_set", outcome="info", person=person["_id"], actor=person["_id"],
        client=client_address(request, svc.settings),
    )  # fmt: skip
    return redirect("/admin/setup/passkey")


async def _new_password_hash(form: dict, person: dict) -> str:
    password = form.get("password", "")
    if password != form.get("confirm", ""):
        raise InvalidInput("the two passwords differ")
    passwords.check_new_password(password, email=person["email"])
    return await passwords.hash_password(password)


@router.get("/setup/passkey")
async def setup_passkey_page(request: Request):
    session, person = await pending(request, "setup")
    if not session.get("password_set"):
        return redirect("/admin/setup/password")
    svc = services(request)
    return page(
        request, "setup_passkey.html", csrf=_pending_csrf(request, session), person=person,
        passkeys=await passkeys.of_person(svc.db, person["_id"]),
        passkeys_possible=rp_id(request, svc.settings) is not None,
    )  # fmt: skip


@router.post("/setup/finish")
async def setup_finish(request: Request):
    svc = services(request)
    session, person = await pending(request, "setup")
    await read_form(request, svc.settings, csrf=_pending_csrf(request, session))
    if not session.get("password_set"):
        raise InvalidInput("set a password first")
    token = await _finish(request, session, person, stage_done="setup", method="setup_link")
    response = redirect(_landing(person, "/admin"))
    set_session_cookie(response, request, svc.settings, token)
    return response


# --- passkeys: registered during set-up or from the account page ---


async def registering(request: Request) -> tuple[dict, dict, str]:
    """The session and person that may register a passkey now: a full session, or a set-up whose
    password is set."""
    viewer = await viewer_of(request)
    if viewer is not None:
        return viewer.session, viewer.person, viewer.csrf
    session, person = await pending(request, "setup")
    if not session.get("password_set"):
        raise LoginRequired("set a password first")
    return session, person, _pending_csrf(request, session)


@router.post("/passkeys/options")
async def passkey_options(request: Request):
    svc = services(request)
    session, person, csrf = await registering(request)
    await read_json(request, svc.settings, csrf=csrf)
    rp = rp_id(request, svc.settings)
    if rp is None:
        raise InvalidInput("passkeys need https (or localhost): open the admin pages at their https address")
    options, challenge = await passkeys.registration_options(svc.db, person=person, rp_id=rp)
    await sessions.update_session(svc.db, session["_id"], reg_challenge=Binary(challenge))
    return JSONResponse(options)


@router.post("/passkeys")
async def passkey_register(request: Request):
    svc = services(request)
    session, person, csrf = await registering(request)
    body = await read_json(request, svc.settings, csrf=csrf)
    label = passkeys.clean_label(body.get("label"))
    challenge = session.get("reg_challenge")
    rp = rp_id(request, svc.settings)
    if challenge is None or rp is None:
        raise InvalidInput("ask for the passkey options first")
    await sessions.update_session(svc.db, session["_id"], reg_challenge=None)  # used once
    now = svc.clock.now()
    stored = await passkeys.register(
        svc.db, person_id=person["_id"], credential=body.get("credential"), challenge=bytes(challenge), rp_id=rp,
        origin=origin(request, svc.settings), label=label, now=now,
    )  # fmt: skip
    await audit.record(
        svc.db, now=now, event="passkey_added", outcome="info", person=person["_id"], actor=person["_id"],
        client=client_address(request, svc.settings), passkey=stored["label"],
    )  # fmt: skip
    return JSONResponse({"status": "ok", "id": stored["_id"], "label": stored["label"]})
