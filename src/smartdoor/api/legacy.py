"""The original Arduino sketch's routes, for doors still running it. /send-otp and
/verify-otp cannot be authenticated (the sketch signs nothing), so they exist only with
LEGACY_API=true, answer only the addresses in LEGACY_ALLOWED_CLIENTS (403 for anyone else),
act on the one door named by LEGACY_DOOR, and make 4-digit codes themselves (the sketch
reads exactly 4 keys; the code it sends is ignored). The door's hard lockout comes after
LEGACY_HARD_LOCKOUT_FAILURES (10) consecutive failures, so a guesser's chance stays at
most 10/10^4 = 10^-3. Every other limit and the audit are the same as for signed doors."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from smartdoor.api.deps import ClientDep, ServicesDep
from smartdoor.audit import service as audit
from smartdoor.doors.service import legacy_door
from smartdoor.errors import CodeRejected, DomainError, Forbidden, Refused
from smartdoor.otp.codes import is_code_format
from smartdoor.otp.issue import issue_code
from smartdoor.otp.verify import verify_code

router = APIRouter(tags=["original Arduino sketch (unauthenticated, opt-in)"])


def mask(address: str) -> str:
    """a***@example.com: enough for the person at the door to recognise, not to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


async def allowed_client(services: ServicesDep, client: ClientDep) -> None:
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        address = None
    if address is None or not any(address in net for net in services.settings.legacy_networks):
        await audit.record(
            services.db,
            now=services.clock.now(),
            event="legacy_refused",
            outcome="refused",
            client=client,
            reason="not_allowed",
        )
        raise Forbidden("this address may not use the unauthenticated routes", reason="forbidden")


Allowed = Annotated[None, Depends(allowed_client)]


class SendOtp(BaseModel):
    otp: str = Field(min_length=1, max_length=10, pattern=r"^[0-9]+$", description="Ignored: the server makes the code")
    mode: Literal["lock", "unlock"]


class VerifyOtp(BaseModel):
    otp: str = Field(min_length=1, max_length=16)


async def _door(services):
    return await legacy_door(
        services.db, services.keyring, name=services.settings.legacy_door, now=services.clock.now()
    )


@router.post("/send-otp")
async def send_otp(body: SendOtp, services: ServicesDep, client: ClientDep, request: Request, _: Allowed) -> dict:
    request.state.legacy = True
    door = await _door(services)
    issued = await issue_code(
        services.engine,
        door=door,
        action=body.mode,
        now=services.clock.now(),
        client=client,
        digits=services.settings.legacy_code_digits,
    )
    recipients = [mask(r) for r in issued.recipients]
    if issued.delivery_error:
        return {
            "status": "partial_success",
            "message": f"OTP stored but email failed: {issued.delivery_error}",
            "recipients": recipients,
            "mode": body.mode,
        }
    return {"status": "success", "message": "OTP sent successfully", "recipients": recipients, "mode": body.mode}


@router.post("/verify-otp")
async def verify_otp(body: VerifyOtp, services: ServicesDep, client: ClientDep, request: Request, _: Allowed) -> dict:
    request.state.legacy = True
    door = await _door(services)
    if not is_code_format(body.otp, services.settings.legacy_code_digits):
        raise CodeRejected("Invalid OTP", reason="invalid_input")
    try:
        action = await verify_code(
            services.engine, door=door, code=body.otp, challenge_id=None, now=services.clock.now(), client=client
        )
    except Refused:
        raise
    except DomainError as refused:
        # the sketch's two replies: it only tells "expired" from anything else
        detail = "OTP expired" if refused.reason == "expired" else "Invalid OTP"
        raise CodeRejected(detail, reason=refused.reason) from None
    return {"status": "success", "message": "OTP verified successfully", "mode": action}
