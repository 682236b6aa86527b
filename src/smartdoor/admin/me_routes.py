"""A person's own pages: their access and history (all a member sees), and their account
(password, passkeys, log out everywhere)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from smartdoor.admin import audit_view, grants_view, passkeys, passwords, throttle
from smartdoor.admin.core import AdminRoute, audit_action, page, redirect, require_login, services
from smartdoor.admin.forms import read_form
from smartdoor.admin.web import client_group, rp_id
from smartdoor.errors import InvalidInput

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)


@router.get("/me")
async def my_page(request: Request):
    viewer = await require_login(request)
    svc = services(request)
    events = await audit_view.page_of_events(
        svc.db, audit_view.AuditFilter(person=viewer.id), page=1, per_page=20, now=svc.clock.now()
    )
    names = await audit_view.names(svc.db, events.events)
    return page(
        request, "me.html", viewer=viewer, person=viewer.person, events=events.events,
        names={"door": names["door"], "person": {viewer.id: viewer.person["name"]}},
        grants=await grants_view.person_grants(svc.db, person_id=viewer.id, now=svc.clock.now()),
    )  # fmt: skip


async def _account_page(request: Request, viewer, *, status: int = 200, error: str | None = None):
    svc = services(request)
    return page(
        request, "account.html", viewer=viewer, passkeys=await passkeys.of_person(svc.db, viewer.id),
        passkeys_possible=rp_id(request, svc.settings) is not None, status=status, error=error,
        done=request.query_params.get("done"),
    )  # fmt: skip


@router.get("/account")
async def account_page(request: Request):
    return await _account_page(request, await require_login(request))


@router.post("/account/password")
async def change_password(request: Request):
    viewer = await require_login(request)
    svc = services(request)
    form = await read_form(request, svc.settings, csrf=viewer.csrf, fields={"current", "password", "confirm"})
    now = svc.clock.now()
    account = throttle.account_key(viewer.person["email"])
    source = client_group(request, svc.settings)
    await throttle.count_login_attempt(svc.db, account=account, client=source, now=now)
    if not await passwords.verify_password(viewer.person.get("password_hash"), form.get("current", "")):
        await audit_action(request, viewer, "password_changed", outcome="failure", person=viewer.id,
                           reason="password")  # fmt: skip
        return await _account_page(request, viewer, status=401, error="The current password is wrong.")
    await throttle.give_back_login_attempt(svc.db, account=account, client=source)
    password = form.get("password", "")
    try:
        if password != form.get("confirm", ""):
            raise InvalidInput("the two new passwords differ")
        passwords.check_new_password(password, email=viewer.person["email"])
    except InvalidInput as bad:
        return await _account_page(request, viewer, status=422, error=bad.message)
    new_hash = await passwords.hash_password(password)
    await svc.db.people.update_one({"_id": viewer.id}, {"$set": {"password_hash": new_hash}})
    # whoever knew the old password is logged out; this session stays
    await svc.db.admin_sessions.delete_many({"person": viewer.id, "_id": {"$ne": viewer.session["_id"]}})
    await audit_action(request, viewer, "password_changed", person=viewer.id)
    return redirect("/admin/account?done=password_changed")


@router.post("/account/passkeys/{passkey_id}/remove")
async def remove_passkey(request: Request, passkey_id: str):
    viewer = await require_login(request)
    svc = services(request)
    await read_form(request, svc.settings, csrf=viewer.csrf)
    await passkeys.remove(svc.db, person_id=viewer.id, passkey_id=passkey_id[:1400])
    await audit_action(request, viewer, "passkey_removed", person=viewer.id)
    return redirect("/admin/account?done=passkey_removed")
