"""Every error a client can cause becomes JSON; database outages become 503, never 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartdoor.errors import ApiError

log = logging.getLogger(__name__)
DB_RETRY_AFTER = 5


def error_response(request: Request, error: ApiError) -> JSONResponse:
    # the device routes sign their errors too (reply_signer is set once the door is known)
    signer = getattr(request.state, "reply_signer", None)
    legacy = getattr(request.state, "legacy", False)
    body = {"detail": error.message} if legacy else error.payload()
    if signer is not None:
        return signer(error.status, body, error.headers())
    return JSONResponse(body, status_code=error.status, headers=error.headers())


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        fields = [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()]
        return error_response(request, ApiError(422, "invalid_input", "; ".join(fields)[:300]))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(request, ApiError(exc.status_code, "http_error", str(exc.detail)))

    for db_error in (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure):

        @app.exception_handler(db_error)
        async def _db_down(request: Request, exc: Exception):
            log.error("database unavailable: %s", type(exc).__name__)
            return error_response(
                request, ApiError(503, "db_unavailable", "database unavailable", retry_after=DB_RETRY_AFTER)
            )
