"""Prometheus metrics at GET /metrics, for a bearer token (METRICS_TOKEN; without it the route
does not exist: 404).

What is counted, and where it comes from:
- device code requests and verifies, by door and outcome: read off the reply at the HTTP
  boundary (MetricsMiddleware), so every answer counts whoever gave it (the routes, the lockout
  gate answering from memory, the original sketch's routes). The outcome is the API's own word
  for the reply (`success`, `partial_success` or the `error` of an error reply), one of a fixed
  set; the door is the signing door of a signed reply (a signed reply means the door was
  authenticated, so only real door ids become labels), `unknown` for an unauthenticated request,
  `legacy` for the original sketch's routes. A resent request (after a lost reply) is answered,
  and counted, again.
- lockouts started, by door: from the audit events this process writes (`lockout`,
  `hard_lockout`), through the audit tap.
- request durations, by route template (`/admin/doors/{door_id}`, never the raw path) and method.
- doors online (a signed state report within doors.presence.ONLINE_WITHIN): read from the
  database at each scrape, so every process reports the same number.
- mail waiting in the outbox (smartdoor.outbox: stored when the relay did not take it at once,
  deleted when delivered or given up), likewise read at each scrape; the gauge exists only in a
  backend that has the outbox.

Each process counts what it answered (per-process counters, as Prometheus expects): scrape each
backend process on its own address and add them up with sum(). No label ever holds an e-mail
address, a code or a person's name, and each label's values are bounded: doors (at most
MAX_DOOR_LABELS distinct, then `other`), outcomes and methods from fixed sets, route templates
from the app's routes."""

from __future__ import annotations

import hmac
import importlib.util
import json
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pymongo.errors import PyMongoError

from doorlogic import httpsig
from doorlogic.client import PATH_REQUEST, PATH_STATE, PATH_USES, PATH_VERIFY
from smartdoor.doors.presence import online_since
from smartdoor.settings import Settings

log = logging.getLogger(__name__)
PATH_METRICS = "/metrics"
MAX_DOOR_LABELS = 1000  # far more doors than one backend serves; past it, `other`
MAX_BODY_READ = 4096  # device replies are a few hundred bytes; a longer one is not parsed

# which replies are counted as what; the original sketch's routes too
COUNTED = {PATH_REQUEST: "code_request", PATH_VERIFY: "verify", "/send-otp": "code_request", "/verify-otp": "verify"}
LEGACY_PATHS = frozenset({"/send-otp", "/verify-otp"})
# a request refused before routing (the lockout gate, the body limit) has no route: these are its template
UNROUTED_TEMPLATES = frozenset({PATH_REQUEST, PATH_VERIFY, PATH_STATE, PATH_USES})
# the words the device API answers with (README, "Device API"), plus what the sketch's routes get
OUTCOMES = frozenset(
    {
        "success", "partial_success", "bad_request", "too_large", "invalid_input", "unsupported_media_type",
        "bad_signature", "unknown_door", "replayed_request", "stale_request", "in_progress", "wrong_code",
        "not_allowed", "person_required", "unknown_challenge", "expired", "used", "superseded", "burned",
        "withdrawn", "uses_exhausted", "rate_limited", "locked_out", "hard_lockout", "db_unavailable", "busy",
        "forbidden", "http_error", "error",
    }
)  # fmt: skip
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DOOR_LABEL = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
KEYID = re.compile(r';keyid="([^"]*)"')
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DoorLabels:
    """Door ids as label values: at most `limit` distinct ones, then `other`."""

    def __init__(self, limit: int = MAX_DOOR_LABELS) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, door: object) -> str:
        if not isinstance(door, str) or not DOOR_LABEL.match(door):
            return "other"
        if door not in self.seen:
            if len(self.seen) >= self.limit:
                return "other"
            self.seen.add(door)
        return door


class Metrics:
    """This app's instruments, in a registry of its own (several apps in one process, as in the
    tests, do not share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.doors = DoorLabels()
        self.services = None  # set when the app starts (bind)
        self.mqtt = None  # the MQTT bridge, when MQTT_URL is set
        self.code_requests = Counter(
            "smartdoor_code_requests", "Code requests answered, by door and outcome",
            ["door", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.verifications = Counter(
            "smartdoor_verifications", "Code verifications answered, by door and outcome",
            ["door", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.lockouts = Counter(
            "smartdoor_lockouts", "Lockouts started (a wait or the hard lockout), by door", ["door"],
            registry=self.registry,
        )  # fmt: skip
        self.request_duration = Histogram(
            "smartdoor_request_duration_seconds", "Time to answer a request, by route template and method",
            ["route", "method"], buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.doors_online = Gauge(
            "smartdoor_doors_online", "Doors whose last signed state report is recent (the same in every process)",
            registry=self.registry,
        )  # fmt: skip
        self.mqtt_publishing = Gauge(
            "smartdoor_mqtt_publishing", "1 while this process is the one publishing to Home Assistant over MQTT",
            registry=self.registry,
        )  # fmt: skip
        self.outbox_pending: Gauge | None = None
        if has_outbox():
            self.outbox_pending = Gauge(
                "smartdoor_mail_outbox_pending", "Mails stored in the outbox, not yet delivered or given up",
                registry=self.registry,
            )  # fmt: skip
        self._by_kind = {"code_request": self.code_requests, "verify": self.verifications}
        # labelled children, looked up once: prometheus_client's labels() checks and locks each
        # time (a dict stays bounded: route templates × methods, door labels × outcomes)
        self._durations: dict[tuple[str, str], Any] = {}
        self._replies: dict[tuple[str, str, str], Any] = {}

    def bind(self, services) -> None:
        self.services = services

    def device_reply(self, kind: str, *, door: str, outcome: str) -> None:
        key = (kind, door, outcome if outcome in OUTCOMES else "other")
        child = self._replies.get(key)
        if child is None:
            child = self._replies[key] = self._by_kind[kind].labels(door=door, outcome=key[2])
        child.inc()

    def request_took(self, route: str, method: str, seconds: float) -> None:
        key = (route, method)
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = self.request_duration.labels(route=route, method=method)
        child.observe(seconds)

    def observe_audit(self, events: Iterable[dict]) -> None:
        """The audit tap: a lockout started is one audit event wherever it was decided."""
        for event in events:
            if event.get("event") in ("lockout", "hard_lockout"):
                self.lockouts.labels(door=self.doors(event.get("door"))).inc()

    async def refresh_gauges(self) -> None:
        """The figures read from the database, just before a scrape is answered."""
        services = self.services
        if services is None:
            return
        try:
            since = online_since(services.clock.now())
            self.doors_online.set(await services.db.doors.count_documents({"state_at": {"$gte": since}}))
        except PyMongoError as failed:  # the counters are still worth a scrape
            log.warning("metrics: doors online not counted: %s", type(failed).__name__)
            self.doors_online.set(float("nan"))
        if self.outbox_pending is not None:
            from smartdoor.outbox import records  # not in every backend: see has_outbox

            try:  # the mail parcels not yet delivered or given up (webhooks are parcels too)
                self.outbox_pending.set(await records.collection(services.db).count_documents({"delivery": "mail"}))
            except PyMongoError as failed:
                log.warning("metrics: the outbox not counted: %s", type(failed).__name__)
                self.outbox_pending.set(float("nan"))
        self.mqtt_publishing.set(1 if self.mqtt is not None and self.mqtt.publishing else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def has_outbox() -> bool:
    """Whether this backend keeps undelivered mail in an outbox (smartdoor.outbox)."""
    return importlib.util.find_spec("smartdoor.outbox") is not None


def route_template(scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    path = scope.get("path")
    return path if path in UNROUTED_TEMPLATES or path in COUNTED else "unmatched"


def _outcome(status: int, body: bytes, *, legacy: bool) -> str:
    try:
        reply = json.loads(body) if body else {}
    except ValueError:
        reply = {}
    if not isinstance(reply, dict):
        reply = {}
    if 200 <= status < 300:
        word = reply.get("status")
        return word if word in ("success", "partial_success") else "success"
    if legacy:  # the sketch's replies carry only a message: the status says what it was
        return {400: "invalid_input", 403: "forbidden", 410: "expired", 429: "locked_out"}.get(status, "error")
    word = reply.get("error")
    return word if isinstance(word, str) else "error"


class _Reply:
    __slots__ = ("body", "signed", "status")

    def __init__(self) -> None:
        self.status = 500  # what the client gets when the app ends without answering
        self.signed = False
        self.body = bytearray()


class MetricsMiddleware:
    """Times every request and reads the outcome of device code requests and verifies off their
    replies. Pure ASGI and outermost: it adds a clock read and a histogram update to a request,
    and for the two counted device paths the parse of a reply of a few hundred bytes."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        kind = COUNTED.get(scope["path"]) if scope["method"] == "POST" else None
        reply = _Reply()

        async def watching(message):
            if message["type"] == "http.response.start":
                reply.status = message["status"]
                reply.signed = any(name.lower() == b"signature" for name, _ in message.get("headers", ()))
            elif kind and message["type"] == "http.response.body" and len(reply.body) <= MAX_BODY_READ:
                reply.body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            elapsed = time.perf_counter() - started
            self.metrics.request_took(route_template(scope), method, elapsed)
            if kind:
                self._count(scope, kind, reply)

    def _count(self, scope, kind: str, reply: _Reply) -> None:
        legacy = scope["path"] in LEGACY_PATHS
        body = bytes(reply.body) if len(reply.body) <= MAX_BODY_READ else b""
        outcome = _outcome(reply.status, body, legacy=legacy)
        if legacy:
            door = "legacy"
        elif reply.signed:  # signed only for an authenticated request: its keyid is a real door
            door = self.metrics.doors(signed_door(scope))
        else:
            door = "unknown"
        self.metrics.device_reply(kind, door=door, outcome=outcome)


def signed_door(scope) -> str | None:
    """The keyid of the request's signature (the same label the authentication checked). Read
    only for a request whose reply was signed, so it authenticated: no need to parse it again."""
    for name, value in scope["headers"]:
        if name == b"signature-input":
            try:
                found = KEYID.search(httpsig.member(value.decode("latin-1")))
            except httpsig.SignatureError:
                return None
            return found.group(1) if found else None
    return None


def bearer_ok(request: Request, token: str) -> bool:
    """The Authorization header holds exactly this bearer token (compared in constant time)."""
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def install(app: FastAPI, settings: Settings) -> None:
    metrics = Metrics()
    token = settings.metrics_token.get_secret_value()
    router = APIRouter()

    @router.get(PATH_METRICS, include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if not bearer_ok(request, token):
            return JSONResponse(
                {"status": "error", "error": "unauthorized", "message": "a bearer token is required"},
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        await metrics.refresh_gauges()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
