"""The benchmark's server: the real app from create_app(), configured from the environment like
`smartdoor serve` and run by the same server (smartdoor.server.build_server, so the same
deadlines and connection caps), plus one trivial route whose req/s is the ceiling for everything
else.

Run by bench/run.py as `python bench/app.py --host H --port P`."""

from __future__ import annotations

import argparse

from fastapi import APIRouter

from smartdoor.main import create_app
from smartdoor.server import build_server, run_server
from smartdoor.settings import Settings

router = APIRouter()


@router.get("/bench/ping")
async def ping() -> dict:
    return {"ok": True}


def make_app(settings: Settings | None = None):
    return create_app(settings or Settings(), extra_routers=(router,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = Settings()
    run_server(build_server(make_app(settings), settings, host=args.host, port=args.port, log_level="warning"))


if __name__ == "__main__":
    main()
