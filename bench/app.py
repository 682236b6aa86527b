"""The benchmark's server: the real app from create_app(), configured from the environment like
`smartdoor serve`, plus one trivial route whose req/s is the ceiling for everything else.

Run by bench/run.py as `python -m uvicorn --factory --app-dir bench app:make_app`."""

from __future__ import annotations

from fastapi import APIRouter

from smartdoor.main import create_app
from smartdoor.settings import Settings

router = APIRouter()


@router.get("/bench/ping")
async def ping() -> dict:
    return {"ok": True}


def make_app():
    return create_app(Settings(), extra_routers=(router,))
