"""The HTTP server: uvicorn with deadlines for slow clients and caps on connections. Built in
one place (build.py) for `smartdoor serve`, `smartdoor demo` and the benchmark."""

from smartdoor.server.build import build_server, run_server

__all__ = ["build_server", "run_server"]
