"""Domain errors to HTTP, in one place. Every error a client can cause becomes a JSON reply;
a database outage becomes 503, never 500. A reply is signed only when the request was
authenticated (request.state.authenticated, set by the device routes' dependency)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from smartdoor.errors import (
    AlreadyExists,
    BadRequest,
    CodeRejected,
    DomainError,
    Forbidden,
    InProgress,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    Refused,
    Unavailable,
)
from smartdoor.signing.authenticate import Authenticated, StaleRequest

log = logging.getLogger(__name__)
DB_RETRY_AFTER = 5

_STATUS: list[tuple[type[DomainError], int]] = [
    (BadRequest, 400),
    (InvalidInput, 422),
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (AlreadyExists, 409),
    (InProgress, 409),
    (Refused, 429),
    (Unavailable, 503),
]


def http_status(error: DomainError) -> int:
    if isinstance(error, CodeRejected):
        return 403 if error.reason == "wrong_code" else 410
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def _retry_after(error: DomainError) -> int | None:
    return getattr(error, "retry_after", None)


def error_payload(error: DomainError) -> dict:
    body = {"status": "error", "error": error.reason, "message": error.message, **error.details}
    if (retry := _retry_after(error)) is not None:
        body["retry_after"] = retry
    return body


def json_reply(status: int, payload: dict, *, signer: Authenticated | None) -> Response:
    """A JSON reply; signed (bound to the request) when `signer` is the authenticated request."""
    headers = {"Retry-After": str(payload["retry_after"])} if "retry_after" in payload else {}
    if signer is None:
        return JSONResponse(payload, status_code=status, headers=headers)
    body, signed = signer.signed_reply(status, payload)
    return Response(body, status_code=status, media_type="application/json", headers={**headers, **signed})


def error_response(request: Request, error: DomainError) -> Response:
    signer: Authenticated | None = getattr(request.state, "authenticated", None)
    if isinstance(error, StaleRequest):
        signer = error.request
    if getattr(request.state, "legacy", False):  # the original sketch reads {"detail": …}, 400 for any bad code
        status = 400 if isinstance(error, CodeRejected) else http_status(error)
        return JSONResponse({"detail": error.message}, status_code=status, headers=_headers(error))
    return json_reply(http_status(error), error_payload(error), signer=signer)


def _headers(error: DomainError) -> dict[str, str]:
    retry = _retry_after(error)
    return {"Retry-After": str(retry)} if retry is not None else {}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        fields = [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()]
        return error_response(request, InvalidInput("; ".join(fields)[:300]))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        payload = {"status": "error", "error": "http_error", "message": str(exc.detail)}
        signer = getattr(request.state, "authenticated", None)
        return json_reply(exc.status_code, payload, signer=signer)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect):
        # the client left (or the server closed it at its body deadline) before its body was
        # complete: nobody to answer (this reply is never sent), and nothing went wrong here
        # (no 500, no traceback in the log)
        return Response(status_code=499)

    # ExecutionTimeout: an operation that ran out of its time (DB_OPERATION_TIMEOUT_MS), e.g. on a
    # database that is stopped, not dead
    for db_error in (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure, ExecutionTimeout):

        @app.exception_handler(db_error)
        async def _db_down(request: Request, exc: Exception):
            log.error("database unavailable: %s", type(exc).__name__)
            return error_response(
                request, Unavailable("database unavailable", reason="db_unavailable", retry_after=DB_RETRY_AFTER)
            )
