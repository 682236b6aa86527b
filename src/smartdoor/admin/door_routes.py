"""Doors: the dashboard, a door's page (state, health, lockout, secret, offline codes) and the
administrator's actions on it, each audited with its actor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import segno
from fastapi import APIRouter, Request

from smartdoor.admin import audit_view
from smartdoor.admin.core import (
    MAX_ID,
    AdminRoute,
    admin_form,
    audit_action,
    page,
    path_id,
    redirect,
    require_admin,
    services,
    viewer_of,
)
from smartdoor.doors import offline
from smartdoor.doors import service as doors
from smartdoor.doors.models import Door
from smartdoor.doors.presence import is_online

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)


def door_view(door: Mapping[str, Any], now: datetime) -> dict:
    """What the pages show of a door (never its secrets)."""
    seen = door.get("state_at")
    until = door.get("locked_until")
    return {
        "id": door["_id"],
        "name": door["name"],
        "recipients": door.get("recipients", []),
        "state": door.get("state") or "unknown",
        "door_open": door.get("door_open"),
        "seen": seen,
        "online": is_online(door, now=now),
        "firmware": door.get("firmware"),
        "rssi": door.get("rssi"),
        "failures": door.get("failures", 0),
        "locked_until": until if until is not None and until > now else None,
        "hard_locked": door.get("hard_locked", False),
        "legacy": door.get("legacy", False),
        "offline": offline.listed(cast(Door, door)),
        "timezone": door.get("timezone") or "UTC",
        "shared_codes": door.get("shared_codes", True),
        "remote_unlock": door.get("remote_unlock", True),
        "watchers": door.get("watchers") or [],
        "command": door.get("command"),
    }


@router.get("")
async def dashboard(request: Request):
    viewer = await viewer_of(request)
    if viewer is not None and not viewer.is_admin:
        return redirect("/admin/me")
    viewer = await require_admin(request)
    svc = services(request)
    now = svc.clock.now()
    rows = [door_view(d, now) for d in await doors.list_doors(svc.db)]
    chart = await audit_view.per_day_chart(
        svc.db, audit_view.AuditFilter(), now=now, days=14, retention_days=svc.settings.audit_retention_days
    )
    recent = await audit_view.page_of_events(svc.db, audit_view.AuditFilter(), page=1, per_page=8, now=now)
    names = await audit_view.names(svc.db, recent.events)
    return page(request, "dashboard.html", viewer=viewer, doors=rows, chart=chart, events=recent.events, names=names)


@router.get("/doors/new")
async def new_door_page(request: Request):
    viewer = await require_admin(request)
    return page(request, "door_new.html", viewer=viewer)


@router.post("/doors")
async def add_door(request: Request):
    viewer, svc, form = await admin_form(request, fields={"name", "recipients"})
    recipients = [r.strip() for r in form.get("recipients", "").replace("\n", ",").split(",") if r.strip()]
    door, secret = await doors.create_door(
        svc.db, svc.keyring, name=form.get("name", ""), recipients=recipients, now=svc.clock.now()
    )
    await audit_action(request, viewer, "door_added", door=door["_id"], name=door["name"])
    return page(request, "door_secret.html", viewer=viewer, door=door_view(door, svc.clock.now()), secret=secret,
                new=True)  # fmt: skip


@router.get("/doors/{door_id}")
async def door_page(request: Request, door_id: str):
    viewer = await require_admin(request)
    svc = services(request)
    door = await doors.get_door(svc.db, path_id(door_id, what="door"))
    events = await audit_view.page_of_events(
        svc.db, audit_view.AuditFilter(door=door["_id"]), page=1, per_page=10, now=svc.clock.now()
    )
    people = await svc.db.people.find({"active": True}, {"name": 1}).sort("name", 1).to_list()
    return page(
        request, "door.html", viewer=viewer, door=door_view(door, svc.clock.now()), events=events.events,
        names=await audit_view.names(svc.db, events.events), people=people, done=request.query_params.get("done"),
    )  # fmt: skip


@router.post("/doors/{door_id}/clear-lockout")
async def clear_lockout(request: Request, door_id: str):
    viewer, svc, _ = await admin_form(request)
    await doors.clear_lockout(svc.db, door_id=path_id(door_id, what="door"))
    await audit_action(request, viewer, "lockout_cleared", door=door_id)
    return redirect(f"/admin/doors/{door_id}?done=lockout_cleared")


@router.post("/doors/{door_id}/rotate-secret")
async def rotate_secret(request: Request, door_id: str):
    viewer, svc, _ = await admin_form(request)
    door = await doors.get_door(svc.db, path_id(door_id, what="door"))
    secret = await doors.rotate_secret(svc.db, svc.keyring, door_id=door["_id"])
    await audit_action(request, viewer, "door_secret_rotated", door=door["_id"])
    return page(request, "door_secret.html", viewer=viewer, door=door_view(door, svc.clock.now()), secret=secret,
                new=False)  # fmt: skip


@router.post("/doors/{door_id}/offline")
async def enroll_offline(request: Request, door_id: str):
    viewer, svc, form = await admin_form(request, fields={"label"})
    door = await doors.get_door(svc.db, path_id(door_id, what="door"))
    credential, uri = await offline.enroll(
        svc.db, svc.keyring, door_id=door["_id"], label=form.get("label", ""), now=svc.clock.now()
    )
    await audit_action(
        request, viewer, "offline_enrolled", door=door["_id"], credential=credential["id"], label=credential["label"]
    )
    qr = segno.make(uri, error="m").svg_inline(scale=5, light="#fff", border=3)
    return page(request, "offline_enrolled.html", viewer=viewer, door=door_view(door, svc.clock.now()),
                credential=credential, uri=uri, qr=qr)  # fmt: skip


@router.post("/doors/{door_id}/offline/{credential_id}/revoke")
async def revoke_offline(request: Request, door_id: str, credential_id: str):
    viewer, svc, _ = await admin_form(request)
    await offline.revoke(svc.db, door_id=path_id(door_id, what="door"), credential_id=credential_id[:MAX_ID])
    await audit_action(request, viewer, "offline_revoked", door=door_id, credential=credential_id)
    return redirect(f"/admin/doors/{door_id}?done=offline_revoked")
