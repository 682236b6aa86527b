"""People: the list, adding, editing, disabling, removing, and set-up links for those who log
in. Every change is audited with its actor. There is always at least one active administrator:
a change that would leave none is refused."""

from __future__ import annotations

from fastapi import APIRouter, Request

from smartdoor.admin import audit_view, grants_view, passkeys, sessions, setup_links
from smartdoor.admin.core import (
    LOGIN_ROLES,
    AdminRoute,
    admin_form,
    audit_action,
    page,
    path_id,
    redirect,
    require_admin,
    services,
)
from smartdoor.admin.web import origin
from smartdoor.errors import AlreadyExists, InvalidInput
from smartdoor.people import service as people
from smartdoor.people.models import ROLES, Person
from smartdoor.push.urls import DELIVERIES
from smartdoor.store.database import Database

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
PERSON_FIELDS = frozenset({"name", "email", "role", "keypad"})
PUSH_FIELDS = frozenset({"push_url", "delivery"})


async def _keep_an_admin(db: Database, *, person: Person, leaving: bool) -> None:
    """Refuses a change that would leave no active administrator."""
    if not leaving or person["role"] != "admin" or not person.get("active"):
        return
    others = await db.people.count_documents({"role": "admin", "active": True, "_id": {"$ne": person["_id"]}})
    if not others:
        raise AlreadyExists("this is the last active administrator: make someone else one first",
                            reason="last_admin")  # fmt: skip


@router.get("/people")
async def people_page(request: Request):
    viewer = await require_admin(request)
    rows = await people.list_people(services(request).db)
    return page(request, "people.html", viewer=viewer, people=rows, roles=ROLES)


@router.post("/people")
async def add_person(request: Request):
    viewer, svc, form = await admin_form(request, fields=PERSON_FIELDS)
    person = await people.add_person(
        svc.db, name=form.get("name", ""), email=form.get("email", ""), role=form.get("role", "member"),
        keypad=form.get("keypad") or None, now=svc.clock.now(),
    )  # fmt: skip
    await audit_action(request, viewer, "person_added", person=person["_id"], role=person["role"])
    return redirect(f"/admin/people/{person['_id']}?done=person_added")


@router.get("/people/{person_id}")
async def person_page(request: Request, person_id: str):
    viewer = await require_admin(request)
    svc = services(request)
    person = await people.get_person(svc.db, path_id(person_id, what="person"))
    person.pop("password_hash", None)
    person.pop("push_url", None)  # a secret: the page shows only its service (push_service)
    events = await audit_view.page_of_events(
        svc.db, audit_view.AuditFilter(person=person["_id"]), page=1, per_page=10, now=svc.clock.now()
    )
    return page(
        request, "person.html", viewer=viewer, person=person, roles=ROLES, events=events.events,
        names=await audit_view.names(svc.db, events.events), passkeys=await passkeys.of_person(svc.db, person["_id"]),
        grants=await grants_view.person_grants(svc.db, person_id=person["_id"], now=svc.clock.now()),
        doors=await grants_view.door_choices(svc.db),
        can_log_in=person["role"] in LOGIN_ROLES, done=request.query_params.get("done"), deliveries=DELIVERIES,
    )  # fmt: skip


@router.post("/people/{person_id}")
async def edit_person(request: Request, person_id: str):
    viewer, svc, form = await admin_form(request, fields=PERSON_FIELDS)
    before = await people.get_person(svc.db, path_id(person_id, what="person"))
    changes = {k: v for k, v in form.items() if v != "" and v != before.get(k)}
    await _keep_an_admin(svc.db, person=before, leaving=changes.get("role", "admin") != "admin")
    after = await people.update_person(svc.db, person_id=before["_id"], **changes)
    if {"role", "email"} & set(changes):  # what they may do, or who they are, changed: log in again
        await sessions.end_all_sessions(svc.db, person_id=before["_id"])
    if changes:
        await audit_action(request, viewer, "person_updated", person=before["_id"], changed=sorted(changes),
                           role=after["role"])  # fmt: skip
    return redirect(f"/admin/people/{before['_id']}?done=person_updated")


@router.post("/people/{person_id}/push")
async def set_push(request: Request, person_id: str):
    """A new push URL (empty: keep the one there is) and where codes and notices go. The URL is
    never echoed, logged or audited: the audit says only that it changed and its service."""
    viewer, svc, form = await admin_form(request, fields=PUSH_FIELDS)
    person = await people.get_person(svc.db, path_id(person_id, what="person"))
    url = form.get("push_url", "").strip() or None
    after = await people.set_push(svc.db, svc.keyring, person_id=person["_id"], url=url, delivery=form.get("delivery"))
    changed = (["push_url"] if url else []) + (
        ["delivery"] if after.get("delivery", "email") != person.get("delivery", "email") else []
    )
    if changed:
        await audit_action(request, viewer, "person_updated", person=person["_id"], changed=changed,
                           delivery=after.get("delivery", "email"), push_service=after.get("push_service"))  # fmt: skip
    return redirect(f"/admin/people/{person['_id']}?done=push_updated")


@router.post("/people/{person_id}/push/remove")
async def remove_push(request: Request, person_id: str):
    viewer, svc, _ = await admin_form(request)
    person = await people.get_person(svc.db, path_id(person_id, what="person"))
    await people.set_push(svc.db, svc.keyring, person_id=person["_id"], url="")
    await audit_action(request, viewer, "person_updated", person=person["_id"], changed=["push_url"], delivery="email")
    return redirect(f"/admin/people/{person['_id']}?done=push_removed")


async def _set_active(request: Request, person_id: str, active: bool):
    viewer, svc, _ = await admin_form(request)
    person = await people.get_person(svc.db, path_id(person_id, what="person"))
    await _keep_an_admin(svc.db, person=person, leaving=not active)
    await people.set_active(svc.db, person_id=person["_id"], active=active)
    if not active:
        await sessions.end_all_sessions(svc.db, person_id=person["_id"])
    await audit_action(request, viewer, "person_enabled" if active else "person_disabled", person=person["_id"])
    return redirect(f"/admin/people/{person['_id']}?done={'person_enabled' if active else 'person_disabled'}")


@router.post("/people/{person_id}/disable")
async def disable_person(request: Request, person_id: str):
    return await _set_active(request, person_id, False)


@router.post("/people/{person_id}/enable")
async def enable_person(request: Request, person_id: str):
    return await _set_active(request, person_id, True)


@router.post("/people/{person_id}/remove")
async def remove_person(request: Request, person_id: str):
    viewer, svc, _ = await admin_form(request)
    person = await people.get_person(svc.db, path_id(person_id, what="person"))
    await _keep_an_admin(svc.db, person=person, leaving=True)
    await people.remove_person(svc.db, person_id=person["_id"])
    await sessions.end_all_sessions(svc.db, person_id=person["_id"])
    await svc.db.passkeys.delete_many({"person": person["_id"]})
    await svc.db.setup_links.delete_many({"person": person["_id"]})
    await audit_action(request, viewer, "person_removed", person=person["_id"])
    return redirect("/admin/people?done=person_removed")


@router.post("/people/{person_id}/setup-link")
async def make_setup_link(request: Request, person_id: str):
    viewer, svc, _ = await admin_form(request)
    person = await people.get_person(svc.db, path_id(person_id, what="person"))
    if person["role"] not in LOGIN_ROLES or not person.get("active"):
        raise InvalidInput("only an active administrator or member logs in")
    token = await setup_links.create_link(svc.db, person_id=person["_id"], by=viewer.id, now=svc.clock.now())
    await audit_action(request, viewer, "setup_link_made", person=person["_id"])
    url = setup_links.link_url(origin(request, svc.settings), token)
    return page(request, "setup_link.html", viewer=viewer, person=person, url=url,
                hours=int(setup_links.LINK_LIFETIME.total_seconds() // 3600))  # fmt: skip
