from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pymongo.errors import PyMongoError

from smartdoor import __version__
from smartdoor.api.deps import ServicesDep
from smartdoor.store.disk import health_field

router = APIRouter(tags=["health"])


@router.get("/")
async def root() -> dict:
    return {"message": "Smart Door OTP API", "status": "running", "version": __version__, "docs": "/docs"}


@router.get("/health")
async def health(services: ServicesDep, request: Request) -> dict:
    try:
        await services.db.client.admin.command("ping")
        database = "connected"
    except PyMongoError:
        database = "disconnected"
    return {
        "status": "healthy" if database == "connected" else "degraded",
        "database": database,
        "timestamp": services.clock.now().isoformat(),
        "version": __version__,
        "uptime_seconds": int(time.monotonic() - request.app.state.started),
        "mail_configured": services.settings.mail_configured,
        "legacy_api": services.settings.legacy_api,
        # DATA_DIR's filesystem: nearly_full above DISK_WARN_PERCENT (a full disk stops the database)
        "disk": health_field(services.settings.data_dir, threshold_percent=services.settings.disk_warn_percent),
    }
