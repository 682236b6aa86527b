"""The admin web app at /admin: server-rendered pages (Jinja2), the package's own script and
style (no CDN: a door's LAN may have no internet), usable on a phone. Administrators run doors,
people, grants and the audit; members see their own access and history.

install(app) mounts it; create_app() calls it, so `smartdoor serve` and the demo both have it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse

from smartdoor.admin import audit_routes, auth_routes, door_routes, grant_routes, me_routes, people_routes
from smartdoor.admin.core import HERE, AdminState
from smartdoor.admin.headers import AdminHeaders
from smartdoor.settings import Settings

STATIC = {"admin.css": "text/css", "admin.js": "text/javascript"}

static_router = APIRouter(prefix="/admin/static", include_in_schema=False)


@static_router.get("/{name}")
async def static_file(name: str):
    if name not in STATIC:
        raise HTTPException(404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


ROUTERS: tuple[APIRouter, ...] = (
    auth_routes.router, door_routes.router, people_routes.router, audit_routes.router, me_routes.router,
    grant_routes.router, static_router,
)  # fmt: skip


def install(app: FastAPI, settings: Settings) -> None:
    app.state.admin = AdminState(settings)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(AdminHeaders, settings=settings)
