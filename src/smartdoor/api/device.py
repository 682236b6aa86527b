"""Device API v1 (ARCHITECTURE.md §3): every request but /time signed, every reply signed."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo.errors import DuplicateKeyError

from smartdoor.api.deps import ClientDep, Services, ServicesDep
from smartdoor.audit import service as audit
from smartdoor.doors.service import door_key
from smartdoor.errors import ApiError
from smartdoor.otp import service as otp
from smartdoor.otp.codes import is_code_format
from smartdoor.signing.server import (
    SignedParams,
    check_freshness,
    check_signature,
    parse_request_signature,
    reply_headers,
)

router = APIRouter(prefix="/api/v1", tags=["device"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CodeRequest(_Body):
    action: Literal["lock", "unlock"]


class VerifyRequest(_Body):
    challenge_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    code: str = Field(min_length=1, max_length=16)


class StateReport(_Body):
    state: Literal["locked", "unlocked", "jammed"]
    rssi: int | None = Field(None, ge=-200, le=0)
    firmware: str | None = Field(None, max_length=64)
    uptime: int | None = Field(None, ge=0)


@dataclass
class DeviceRequest:
    door: dict
    params: SignedParams
    body: bytes
    client: str | None
    now: datetime

    def parse(self, model: type[_Body]) -> _Body:
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_request", "body is not JSON") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
            raise ApiError(422, "invalid_input", fields[:300] or "invalid body") from None


def reply_signer(key: bytes, keyid: str, request_signature: str, now: datetime):
    """Makes the signed replies to one request: bound to its signature (ARCHITECTURE.md §3)."""

    def sign(status: int, payload: dict, headers: dict | None = None) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        signed = reply_headers(
            key=key, keyid=keyid, status=status, body=body, request_signature=request_signature, now=now
        )
        return Response(body, status_code=status, media_type="application/json", headers={**(headers or {}), **signed})

    return sign


async def authenticated(request: Request, services: ServicesDep, client: ClientDep) -> DeviceRequest:
    now = services.clock.now()
    body = await request.body()
    keyid = None
    try:
        params = parse_request_signature(request.headers, has_body=bool(body))
        keyid = params.keyid
        check_freshness(params, now=now, skew_seconds=services.settings.clock_skew_seconds)
        door = await services.db.doors.find_one({"_id": keyid})
        if door is None:
            raise ApiError(401, "unknown_door", "unknown keyid")
        key = door_key(services.keyring, door)
        request.state.reply_signer = reply_signer(key, door["_id"], request.headers["signature"], now)
        check_signature(
            params, key=key, method=request.method, path=request.url.path, headers=request.headers, body=body
        )
    except ApiError as refused:
        await audit.record(
            services.db,
            now=now,
            event="bad_signature",
            outcome="refused",
            door=keyid,
            reason=refused.error,
            client=client,
            path=request.url.path,
        )
        raise
    if repeats := services.lockouts.take_rejections(keyid):  # refused by the lockout gate meanwhile
        await audit.record(
            services.db,
            now=now,
            event="lockout_rejections",
            outcome="refused",
            door=keyid,
            reason="locked_out",
            client=client,
            count=repeats,
        )
    return DeviceRequest(door, params, body, client, now)


Device = Annotated[DeviceRequest, Depends(authenticated)]


@contextlib.contextmanager
def remembering_lockouts(services: Services, dev: DeviceRequest):
    """What the code engine found about the door's lockout feeds the lockout gate
    (api/lockout_gate.py): remembered when locked out, forgotten otherwise."""
    try:
        yield
    except ApiError as refused:
        if refused.error in ("locked_out", "hard_lockout"):
            services.lockouts.remember(dev.door, refused, dev.now)
        else:
            services.lockouts.forget(dev.door["_id"])
        raise
    services.lockouts.forget(dev.door["_id"])


async def remember_nonce(services: Services, dev: DeviceRequest) -> None:
    """The replay cache: a nonce is kept longer than the skew window, so any replay that is
    still fresh enough to pass the created check is caught here."""
    keep = timedelta(seconds=2 * services.settings.clock_skew_seconds + 60)
    try:
        await services.db.nonces.insert_one(
            {"_id": f"{dev.door['_id']}:{dev.params.nonce}", "purge_at": dev.now + keep}
        )
    except DuplicateKeyError:
        await audit.record(
            services.db,
            now=dev.now,
            event="replay",
            outcome="refused",
            door=dev.door["_id"],
            reason="replayed_request",
            client=dev.client,
        )
        raise ApiError(401, "replayed_request", "this request was seen before") from None


async def parse_or_audit(services: Services, dev: DeviceRequest, model: type[_Body], event: str) -> _Body:
    try:
        return dev.parse(model)
    except ApiError as bad:
        await audit.record(
            services.db,
            now=dev.now,
            event=event,
            outcome="refused",
            door=dev.door["_id"],
            reason=bad.error,
            client=dev.client,
        )
        raise


def _signed_body(model: type[_Body]) -> dict:
    # the body is read raw (it is signed), so tell OpenAPI its shape here
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.get("/time", summary="Server time for the device's clock (unsigned)")
async def server_time(services: ServicesDep) -> dict:
    return {"epoch": int(services.clock.now().timestamp())}


@router.post(
    "/otp/request", summary="Ask for a code: emailed to the door's people", openapi_extra=_signed_body(CodeRequest)
)
async def request_code(dev: Device, services: ServicesDep, request: Request) -> Response:
    await remember_nonce(services, dev)
    body = await parse_or_audit(services, dev, CodeRequest, "code_request")
    with remembering_lockouts(services, dev):
        issued = await otp.issue_code(
            services.db,
            services.keyring,
            services.settings,
            services.mailer.send,
            door=dev.door,
            action=body.action,
            now=dev.now,
            client=dev.client,
        )
    reply = {
        "status": "partial_success" if issued.delivery_error else "success",
        "challenge_id": issued.challenge_id,
        "expires_in": int((issued.expires_at - dev.now).total_seconds()),
        "digits": issued.digits,
        "recipients": len(issued.recipients),
    }
    if issued.delivery_error:
        reply["reason"] = issued.delivery_error
    return request.state.reply_signer(200, reply)


@router.post(
    "/otp/verify", summary="Check a typed code; success moves the door", openapi_extra=_signed_body(VerifyRequest)
)
async def verify_code(dev: Device, services: ServicesDep, request: Request) -> Response:
    # no nonce-cache write here: the challenge itself refuses a replayed verify (saves a round trip)
    body = await parse_or_audit(services, dev, VerifyRequest, "verify")
    if not is_code_format(body.code, services.settings.code_digits):
        await audit.record(
            services.db,
            now=dev.now,
            event="verify",
            outcome="refused",
            door=dev.door["_id"],
            reason="invalid_input",
            client=dev.client,
        )
        raise ApiError(422, "invalid_input", f"code must be {services.settings.code_digits} digits")
    with remembering_lockouts(services, dev):
        action = await otp.verify_code(
            services.db,
            services.keyring,
            services.settings,
            services.mailer.send,
            door=dev.door,
            code=body.code,
            challenge_id=body.challenge_id,
            now=dev.now,
            client=dev.client,
            nonce=dev.params.nonce,
        )
    return request.state.reply_signer(200, {"status": "success", "action": action})


@router.post("/state", summary="The device reports its lock state", openapi_extra=_signed_body(StateReport))
async def report_state(dev: Device, services: ServicesDep, request: Request) -> Response:
    await remember_nonce(services, dev)
    body = await parse_or_audit(services, dev, StateReport, "state_report")
    fields = body.model_dump(exclude_none=True)
    await services.db.doors.update_one(
        {"_id": dev.door["_id"]}, {"$set": {**fields, "state_at": dev.now, "last_seen_from": dev.client}}
    )
    await audit.record(
        services.db,
        now=dev.now,
        event="state_report",
        outcome="info",
        door=dev.door["_id"],
        client=dev.client,
        **fields,
    )
    return request.state.reply_signer(200, {"status": "ok"})
