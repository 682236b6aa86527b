"""Device API v1: every request but /time signed by the door (RFC 9421 hmac-sha256), and every
reply to an authenticated request signed and bound to it. The paths are the firmware's own
constants (doorlogic.client), so the two ends cannot disagree on them."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from doorlogic.client import PATH_REQUEST, PATH_STATE, PATH_USES, PATH_VERIFY
from smartdoor.access import keypad, notices
from smartdoor.api.deps import ClientDep, Services, ServicesDep
from smartdoor.api.errors import json_reply
from smartdoor.api.json_body import INT64_MAX, MAX_UNIX_TIME, parse_json_body
from smartdoor.api.openapi_body import inline_schema
from smartdoor.audit import service as audit
from smartdoor.doors import offline
from smartdoor.doors import service as doors
from smartdoor.doors.models import Door, OfflineCredential
from smartdoor.errors import DomainError, InvalidInput, LockedOut, NotAuthenticated
from smartdoor.otp.codes import is_code_format
from smartdoor.otp.issue import issue_code
from smartdoor.otp.verify import verify_code
from smartdoor.signing.authenticate import Authenticated, authenticate

router = APIRouter(tags=["device"])
PATH_TIME = "/api/v1/time"  # diagnostics only: the door itself never asks it


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Model = TypeVar("Model", bound=_Body)


class CodeRequest(_Body):
    action: Literal["lock", "unlock"]
    person: str | None = Field(
        None,
        pattern=r"^[0-9]{1,6}$",
        description="the keypad number the person typed: the code goes to them alone, if a grant allows it now",
    )


class VerifyRequest(_Body):
    challenge_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    code: str = Field(min_length=1, max_length=16)


class StateReport(_Body):
    state: Literal["locked", "unlocked", "jammed"]
    rssi: int | None = Field(None, ge=-200, le=0)
    firmware: str | None = Field(None, max_length=64)
    uptime: int | None = Field(None, ge=0, le=INT64_MAX)
    heap: int | None = Field(None, ge=0, le=INT64_MAX, description="free heap, bytes")
    reset_cause: str | None = Field(None, max_length=32, pattern=r"^[A-Za-z0-9_ .:-]*$")
    event: Literal["boot", "heartbeat", "change", "exit_button", "auto_relock", "offline", "remote"] | None = None
    door_open: bool | None = Field(None, description="the reed switch, where the door has one")
    offline_version: int | None = Field(None, ge=0, description="the offline credentials the door holds")
    command: str | None = Field(
        None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$",
        description='with event "remote": the id of the remote command the door has just carried out',
    )  # fmt: skip


class OfflineUse(_Body):
    credential: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    step: int = Field(ge=0, le=2**40, description="the TOTP time step the code was for")
    at: int = Field(ge=0, le=MAX_UNIX_TIME, description="when, by the door's clock (unix seconds)")
    action: Literal["lock", "unlock"]


class OfflineUses(_Body):
    uses: list[OfflineUse] = Field(max_length=20)
    wrong_codes: int | None = Field(None, ge=0, le=10**6)


def parse_body(body: bytes, model: type[Model]) -> Model:
    data = parse_json_body(body)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        raise InvalidInput(fields[:300] or "invalid body") from None


async def authenticated(request: Request, services: ServicesDep, client: ClientDep) -> Authenticated:
    """The route dependency: the request's door, or a 401 (counted, not audited one by one)."""
    now = services.clock.now()
    body = await request.body()
    try:
        device = await authenticate(
            method=request.method,
            path=request.url.path,
            headers=request.headers,
            body=body,
            now=now,
            find_door=lambda door_id: services.db.doors.find_one({"_id": door_id}),
            keyring=services.keyring,
            skew_seconds=services.settings.clock_skew_seconds,
        )
    except NotAuthenticated as refused:
        if services.unauthenticated.add(
            client=client, reason=refused.reason, door=refused.door_id, path=request.url.path, now=now
        ):
            await services.unauthenticated.flush(services.db, now=now)
        raise
    request.state.authenticated = device
    request.state.body = body
    if repeats := services.lockouts.take_rejections(device.door["_id"]):  # refused by the lockout gate meanwhile
        await audit.record(
            services.db,
            now=now,
            event="lockout_rejections",
            outcome="refused",
            door=device.door["_id"],
            reason="locked_out",
            client=client,
            count=repeats,
        )
    return device


Device = Annotated[Authenticated, Depends(authenticated)]


@contextlib.contextmanager
def remembering_lockouts(services: Services, device: Authenticated):
    """What the code engine found about the door's lockout feeds the lockout gate
    (api/lockout_gate.py): remembered when locked out, forgotten otherwise."""
    door_id = device.door["_id"]
    try:
        yield
    except LockedOut as locked:
        services.lockouts.remember(device.door, locked, device.now)
        raise
    except DomainError:
        services.lockouts.forget(door_id)
        raise
    services.lockouts.forget(door_id)


async def parse_or_audit(
    services: Services, device: Authenticated, request: Request, model: type[Model], *, event: str, client: str | None
) -> Model:
    try:
        return parse_body(request.state.body, model)
    except DomainError as bad:
        await audit.record(
            services.db,
            now=device.now,
            event=event,
            outcome="refused",
            door=device.door["_id"],
            reason=bad.reason,
            client=client,
        )
        raise


def _signed_body(model: type[_Body]) -> dict:
    # the body is read raw (it is signed), so tell OpenAPI its shape here
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}}


@router.get(PATH_TIME, summary="Server time, for diagnostics (unsigned: a door never sets its clock from it)")
async def server_time(services: ServicesDep) -> dict:
    return {"epoch": int(services.clock.now().timestamp())}


@router.post(
    PATH_REQUEST, summary="Ask for a code: emailed to the door's people", openapi_extra=_signed_body(CodeRequest)
)
async def request_code(device: Device, services: ServicesDep, request: Request, client: ClientDep) -> Response:
    async def handle() -> tuple[int, dict]:
        body = await parse_or_audit(services, device, request, CodeRequest, event="code_request", client=client)
        requester = None
        if body.person is not None:
            requester = await keypad.load(services.db, keypad=body.person, door_id=device.door["_id"])
        with remembering_lockouts(services, device):
            issued = await issue_code(
                services.engine, door=device.door, action=body.action, now=device.now, client=client,
                requester=requester,
            )  # fmt: skip
        reply = {
            "status": "partial_success" if issued.delivery_error else "success",
            "challenge_id": issued.challenge_id,
            "expires_in": int((issued.expires_at - device.now).total_seconds()),
            "digits": issued.digits,
            "recipients": len(issued.recipients),
        }
        if issued.delivery_error:
            reply["reason"] = issued.delivery_error
        return 200, reply

    return await services.ledger.answer_once(
        device, handle, skew_seconds=services.settings.clock_skew_seconds, client=client
    )


@router.post(
    PATH_VERIFY, summary="Check a typed code; success moves the door", openapi_extra=_signed_body(VerifyRequest)
)
async def verify(device: Device, services: ServicesDep, request: Request, client: ClientDep) -> Response:
    body = await parse_or_audit(services, device, request, VerifyRequest, event="verify", client=client)
    digits = services.settings.code_digits
    if not is_code_format(body.code, digits):
        await audit.record(
            services.db,
            now=device.now,
            event="verify",
            outcome="refused",
            door=device.door["_id"],
            reason="invalid_input",
            client=client,
        )
        raise InvalidInput(f"code must be {digits} digits")
    with remembering_lockouts(services, device):
        action = await verify_code(
            services.engine,
            door=device.door,
            challenge_id=body.challenge_id,
            code=body.code,
            now=device.now,
            client=client,
            nonce=device.params.nonce,
            signature=device.signature,
        )
    return json_reply(200, {"status": "success", "action": action}, signer=device)


@router.post(PATH_STATE, summary="The device reports its lock state", openapi_extra=_signed_body(StateReport))
async def report_state(device: Device, services: ServicesDep, request: Request, client: ClientDep) -> Response:
    async def handle() -> tuple[int, dict]:
        body = await parse_or_audit(services, device, request, StateReport, event="state_report", client=client)
        door = device.door
        fields = body.model_dump(exclude_none=True, exclude={"offline_version", "event", "command"})
        await services.db.doors.update_one(
            {"_id": door["_id"]}, {"$set": {**fields, "state_at": device.now, "last_seen_from": client}}
        )
        done = None
        if body.event == "exit_button":
            await audit.record(
                services.db, now=device.now, event="exit_button", outcome="success", action="unlock",
                door=door["_id"], client=client, state=body.state,
            )  # fmt: skip
            notices.unlocked(
                services.engine, door=door, unlocks=[notices.Unlock(at=device.now, how="exit_button")], now=device.now
            )
        elif body.event == "remote":
            done = await _remote_done(services, door=door, body=body, now=device.now, client=client)
        elif body.event != "heartbeat" or body.state != door.get("state"):  # heartbeats only when news
            await audit.record(
                services.db, now=device.now, event="state_report", outcome="info", door=door["_id"],
                client=client, reason=body.event, **fields,
            )  # fmt: skip
        reply: dict = {"status": "ok", "server_time": int(device.now.timestamp())}
        if body.offline_version is None or body.offline_version != door.get("offline_version", 0):
            reply["offline"] = offline.transit_block(door, keyring=services.keyring, door_key=device.key)
        if command := await _command_for(services, door=door, done=done, now=device.now, client=client):
            reply["command"] = {"id": command["id"], "action": command["action"]}
        return 200, reply

    return await services.ledger.answer_once(
        device, handle, skew_seconds=services.settings.clock_skew_seconds, client=client
    )


async def _remote_done(services: Services, *, door: Door, body: StateReport, now: datetime, client: str | None):
    """The door reports a remote command carried out: clear it, audit it (naming who sent it),
    tell the watchers of an unlock. Returns the command, or None if it was not pending."""
    command = (
        await doors.finish_command(services.db, door_id=door["_id"], command_id=body.command) if body.command else None
    )
    if command is None:
        await audit.record(
            services.db, now=now, event="remote_command", outcome="info", door=door["_id"], client=client,
            reason="unknown_command", command=body.command, state=body.state,
        )  # fmt: skip
        return None
    by = command["by"]
    carried_out = body.state == ("unlocked" if command["action"] == "unlock" else "locked")
    await audit.record(
        services.db, now=now, event="remote_command", outcome="success" if carried_out else "failure",
        door=door["_id"], action=command["action"], client=client, command=command["id"], state=body.state,
        actor=by, person=notices.person_of(by),
    )  # fmt: skip
    if carried_out and command["action"] == "unlock":
        notices.unlocked(services.engine, door=door, unlocks=[notices.Unlock(at=now, how="remote", by=by)], now=now)
    return command


async def _command_for(services: Services, *, door: Door, done, now: datetime, client: str | None):
    """The pending remote command to deliver with this reply, if any; one too old to act on
    (REMOTE_COMMAND_TTL_SECONDS) is dropped and audited instead."""
    command = door.get("command")
    if not command or (done and done["id"] == command["id"]):
        return None
    deliverable = doors.deliverable_command(door, now=now, ttl_seconds=services.settings.remote_command_ttl_seconds)
    if deliverable is None and await doors.finish_command(services.db, door_id=door["_id"], command_id=command["id"]):
        reason = (
            "expired" if command["action"] == "lock" or door.get("remote_unlock", True) else "remote_unlock_disabled"
        )
        await audit.record(
            services.db, now=now, event="remote_command", outcome="refused", door=door["_id"],
            action=command["action"], client=client, command=command["id"], reason=reason, actor=command["by"],
            person=notices.person_of(command["by"]),
        )  # fmt: skip
    return deliverable


@router.post(PATH_USES, summary="Offline code uses, uploaded when the door is back online",
             openapi_extra=_signed_body(OfflineUses))  # fmt: skip
async def offline_uses(device: Device, services: ServicesDep, request: Request, client: ClientDep) -> Response:
    async def handle() -> tuple[int, dict]:
        body = await parse_or_audit(services, device, request, OfflineUses, event="offline_use", client=client)
        door = device.door
        credentials = {c["id"]: c for c in door.get("offline_credentials") or []}
        events = []
        unlocks = []
        for use in body.uses:
            at = datetime.fromtimestamp(use.at, UTC)
            if await offline.record_use(
                services.db, door_id=door["_id"], credential=use.credential, step=use.step, at=at
            ):
                credential: OfflineCredential | dict = credentials.get(use.credential) or {}
                events.append(
                    audit.entry(
                        now=device.now, event="offline_use", outcome="success", door=door["_id"], action=use.action,
                        client=client, credential=use.credential, label=credential.get("label"), step=use.step,
                        used_at=at, person=credential.get("person"),
                    )
                )  # fmt: skip
                if use.action == "unlock":
                    unlocks.append(
                        notices.Unlock(at=at, how="offline_code", person=credential.get("person"),
                                       label=credential.get("label"))
                    )  # fmt: skip
        if body.wrong_codes:
            events.append(
                audit.entry(
                    now=device.now, event="offline_wrong_codes", outcome="failure", door=door["_id"],
                    client=client, count=body.wrong_codes,
                )
            )  # fmt: skip
        await audit.record_many(services.db, events)
        notices.unlocked(services.engine, door=door, unlocks=unlocks, now=device.now)
        return 200, {"status": "ok", "accepted": sum(e["event"] == "offline_use" for e in events)}

    return await services.ledger.answer_once(
        device, handle, skew_seconds=services.settings.clock_skew_seconds, client=client
    )
