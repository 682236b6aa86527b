"""The seed's routes, for its Arduino sketch unchanged. /send-otp and /verify-otp are
unauthenticated by nature, so they exist only with LEGACY_API=true, act on the one door
named by LEGACY_DOOR, ignore the code the caller sends (the server makes it), and keep
every limit and the audit."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from smartdoor.api.deps import ClientDep, ServicesDep
from smartdoor.doors.service import legacy_door
from smartdoor.errors import ApiError
from smartdoor.otp import service as otp

router = APIRouter(tags=["legacy (seed firmware)"])


class SendOtp(BaseModel):
    otp: str = Field(
        min_length=4,
        max_length=10,
        pattern=r"^[0-9]+$",
        description="Ignored but for its length: the server makes the code",
    )
    mode: Literal["lock", "unlock"]


class VerifyOtp(BaseModel):
    otp: str = Field(min_length=1, max_length=16)


async def _door(services):
    s = services.settings
    return await legacy_door(services.db, services.keyring, name=s.legacy_door, now=services.clock.now())


@router.post("/send-otp")
async def send_otp(body: SendOtp, services: ServicesDep, client: ClientDep, request: Request) -> dict:
    request.state.legacy = True
    door = await _door(services)
    issued = await otp.issue_code(
        services.db,
        services.keyring,
        services.settings,
        services.mailer.send,
        door=door,
        action=body.mode,
        now=services.clock.now(),
        client=client,
        digits=len(body.otp),
    )
    if issued.delivery_error:
        return {
            "status": "partial_success",
            "message": f"OTP stored but email failed: {issued.delivery_error}",
            "recipients": issued.recipients,
            "mode": body.mode,
        }
    return {"status": "success", "message": "OTP sent successfully", "recipients": issued.recipients, "mode": body.mode}


@router.post("/verify-otp")
async def verify_otp(body: VerifyOtp, services: ServicesDep, client: ClientDep, request: Request) -> dict:
    request.state.legacy = True
    door = await _door(services)
    if not body.otp.isascii() or not body.otp.isdigit():
        raise ApiError(400, "invalid_input", "Invalid OTP")
    try:
        action = await otp.verify_code(
            services.db,
            services.keyring,
            services.settings,
            services.mailer.send,
            door=door,
            code=body.otp,
            challenge_id=None,
            now=services.clock.now(),
            client=client,
        )
    except ApiError as refused:
        if refused.status == 429:
            raise
        # the seed's two replies: the sketch only tells "expired" from anything else
        detail = "OTP expired" if refused.error == "expired" else "Invalid OTP"
        raise ApiError(400, refused.error, detail) from None
    return {"status": "success", "message": "OTP verified successfully", "mode": action}
