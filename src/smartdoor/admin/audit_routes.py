"""The audit pages: the filtered table with pages, its export (CSV, JSONL), the chart, and the
live feed. An administrator sees every event; a member only their own."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from smartdoor.admin import audit_view, live
from smartdoor.admin.core import AdminRoute, Viewer, admin_state, audit_action, page, require_login, services
from smartdoor.audit.service import export
from smartdoor.errors import InvalidInput

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _filter(request: Request, viewer: Viewer) -> audit_view.AuditFilter:
    return audit_view.parse_filter(request.query_params, own_person=None if viewer.is_admin else viewer.id)


@router.get("/audit")
async def audit_page(request: Request):
    viewer = await require_login(request)
    svc = services(request)
    flt = _filter(request, viewer)
    number = audit_view.parse_page(request.query_params.get("page"))
    events = await audit_view.page_of_events(svc.db, flt, page=number, now=svc.clock.now())
    names = await audit_view.every_name(svc.db)  # the filter's choices, and the page's names
    if not viewer.is_admin:  # a member's choices: the doors in their own history, no one else's name
        names = {"door": names["door"], "person": {viewer.id: viewer.person["name"]}}
    chart = await audit_view.per_day_chart(
        svc.db, flt, now=svc.clock.now(), retention_days=svc.settings.audit_retention_days
    )
    return page(
        request, "audit.html", viewer=viewer, filter=flt, params=flt.params(), events=events, names=names,
        chart=chart, outcomes=audit_view.OUTCOMES,
    )  # fmt: skip


@router.get("/audit/export")
async def audit_export(request: Request, format: str = "csv"):
    viewer = await require_login(request)
    if format not in EXPORT_TYPES:
        raise InvalidInput("format: csv or jsonl")
    svc = services(request)
    flt = _filter(request, viewer)
    events = await audit_view.events_for_export(svc.db, flt, now=svc.clock.now())
    # the filter goes in a field of its own: as `door`/`person` it would make this event part of the view
    await audit_action(request, viewer, "audit_exported", format=format, events=len(events), filter=flt.params())
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        export(events, format), media_type=EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="smartdoor-audit-{stamp}.{format}"'},
    )  # fmt: skip


@router.get("/audit/live")
async def audit_live(request: Request):
    viewer = await require_login(request)
    svc = services(request)
    flt = _filter(request, viewer)
    state = admin_state(request)
    slots: live.StreamSlots = state.live_slots
    if not slots.take(viewer.id):
        return JSONResponse(
            {"status": "error", "error": "busy", "message": "too many live feeds open"},
            status_code=429, headers={"Retry-After": "10"},
        )  # fmt: skip
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release(viewer.id)

    after = live.last_event_id(request.headers.get("last-event-id"))
    return StreamingResponse(
        live.feed(svc.db, flt, after=after, release=release), media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"}, background=BackgroundTask(release),
    )  # fmt: skip
