"""Grants (who may lock or unlock which door, when) and a door's access settings and remote
commands; each change audited with its actor."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request

from smartdoor.access import service as access
from smartdoor.access.schedule import zone
from smartdoor.admin.core import AdminRoute, audit_action, redirect, require_admin, services
from smartdoor.admin.forms import read_form
from smartdoor.doors import service as doors
from smartdoor.errors import InvalidInput
from smartdoor.people import service as people

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
GRANT_FIELDS = frozenset({"door", "any_time", "start", "end", "valid_from", "valid_until", "max_uses"})
MAX_ID = 40


def _local_time(value: str | None, name: str, tz_name: str) -> datetime | None:
    """A datetime-local field's value, on the door's clock."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value) if len(value) <= 32 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None or not 2000 <= parsed.year <= 9999:
        raise InvalidInput(f"{name}: a date and time like 2026-11-25T08:00")
    return parsed.replace(tzinfo=zone(tz_name))


def _schedule(form: dict) -> list[dict] | None:
    if form.get("any_time"):
        return None
    try:
        days = sorted({int(d) for d in form["days"]})
    except ValueError:
        raise InvalidInput("days are 0 (Monday) to 6 (Sunday)") from None
    if not days:
        raise InvalidInput("pick the days (or any time)")
    return [{"days": days, "start": form.get("start", ""), "end": form.get("end", "")}]


def _max_uses(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 7:
        raise InvalidInput("max uses is a whole number")
    return int(value)


@router.post("/people/{person_id}/grants")
async def add_grant(request: Request, person_id: str):
    viewer = await require_admin(request)
    svc = services(request)
    form = await read_form(request, svc.settings, csrf=viewer.csrf, fields=GRANT_FIELDS, lists={"actions", "days"})
    person = await people.get_person(svc.db, person_id[:MAX_ID])
    door = await doors.get_door(svc.db, form.get("door", "")[:MAX_ID])
    tz_name = str(door.get("timezone") or "UTC")
    grant = await access.add_grant(
        svc.db, person_id=person["_id"], door_id=door["_id"], actions=form["actions"],
        valid_from=_local_time(form.get("valid_from"), "valid from", tz_name),
        valid_until=_local_time(form.get("valid_until"), "valid until", tz_name),
        schedule=_schedule(form), max_uses=_max_uses(form.get("max_uses")), now=svc.clock.now(),
    )  # fmt: skip
    await audit_action(request, viewer, "grant_added", person=person["_id"], door=door["_id"], grant=grant["_id"],
                       actions=grant["actions"])  # fmt: skip
    return redirect(f"/admin/people/{person['_id']}?done=grant_added#grants")


@router.post("/grants/{grant_id}/remove")
async def remove_grant(request: Request, grant_id: str):
    viewer = await require_admin(request)
    svc = services(request)
    await read_form(request, svc.settings, csrf=viewer.csrf)
    grant = await access.get_grant(svc.db, grant_id[:MAX_ID])
    await access.remove_grant(svc.db, grant_id=grant["_id"], now=svc.clock.now())
    await audit_action(request, viewer, "grant_removed", person=grant["person"], door=grant["door"],
                       grant=grant["_id"])  # fmt: skip
    return redirect(f"/admin/people/{grant['person']}?done=grant_removed#grants")


@router.post("/doors/{door_id}/settings")
async def door_settings(request: Request, door_id: str):
    viewer = await require_admin(request)
    svc = services(request)
    form = await read_form(request, svc.settings, csrf=viewer.csrf,
                           fields={"timezone", "shared_codes", "remote_unlock"}, lists={"watchers"})  # fmt: skip
    changed = await doors.update_settings(
        svc.db, door_id=door_id[:MAX_ID], timezone=form.get("timezone") or "UTC",
        shared_codes=bool(form.get("shared_codes")), remote_unlock=bool(form.get("remote_unlock")),
        watchers=form["watchers"],
    )  # fmt: skip
    await audit_action(request, viewer, "door_settings", door=door_id, **changed)
    return redirect(f"/admin/doors/{door_id}?done=settings_saved")


@router.post("/doors/{door_id}/command")
async def remote_command(request: Request, door_id: str):
    viewer = await require_admin(request)
    svc = services(request)
    form = await read_form(request, svc.settings, csrf=viewer.csrf, fields={"action"})
    command = await doors.queue_command(svc.db, door_id=door_id[:MAX_ID], action=form.get("action", ""),
                                        by=viewer.id, now=svc.clock.now())  # fmt: skip
    await audit_action(request, viewer, "remote_command", door=door_id, action=command["action"],
                       command=command["id"], reason="queued")  # fmt: skip
    return redirect(f"/admin/doors/{door_id}?done=command_queued")
