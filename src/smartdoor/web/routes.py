"""Demo-only pages: /simulator (the simulated door) and /inbox (what the mail sink caught).
Mounted by smartdoor.web.demo.run_demo only, never by create_app() on its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from doorlogic.tones import TONES
from smartdoor.api.json_body import parse_json_body
from smartdoor.errors import BadRequest
from smartdoor.mail.sink import MailSink
from smartdoor.simulator.device import KEYS, DeviceThread
from smartdoor.web.same_origin import SameOrigin

HERE = Path(__file__).resolve().parent
STATIC = {"simulator.js": "text/javascript", "network.js": "text/javascript", "style.css": "text/css"}
KEYPAD_ROWS = ("123A", "456B", "789C", "*0#D")

templates = Jinja2Templates(directory=str(HERE / "templates"))


class _Text(HTMLParser):
    """HTML to plain text for a mail without a text part (nothing of the HTML is rendered)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()


def _mail_view(mail: dict) -> dict:
    received: datetime = mail["received_at"]
    return {
        "subject": mail.get("subject") or "(no subject)",
        "to": ", ".join(mail.get("to") or []),
        "from": mail.get("from") or "",
        "time": received.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        "iso": received.isoformat(),
        "text": mail.get("text") or html_to_text(mail.get("html") or ""),
    }


def build_router(
    get_device: Callable[[], DeviceThread | None],
    sink: MailSink,
    *,
    same_origin: SameOrigin,
    door_name: str = "Demo door",
    person: Callable[[], tuple[str, str] | None] = lambda: None,
) -> APIRouter:
    """get_device: returns the running DeviceThread (None until the demo door is provisioned).
    same_origin: what a request that changes something must satisfy (the page carries its token).
    person: (keypad number, name) of a person with a grant for the door, if there is one: the
    page tells a newcomer to try that number."""
    router = APIRouter(include_in_schema=False)

    def running() -> DeviceThread:
        device = get_device()
        if device is None:
            raise HTTPException(503, "the simulated door is starting", headers={"Retry-After": "1"})
        return device

    @router.get("/simulator")
    async def simulator_page(request: Request):
        device = running()
        return templates.TemplateResponse(
            request,
            "simulator.html",
            {
                "rows": KEYPAD_ROWS,
                "door_id": device.device.door_id,
                "door_name": door_name,
                "tones_json": json.dumps(TONES),
                "snapshot": device.device.snapshot(),
                "page_token": same_origin.token,
                "person": person(),
            },
        )

    @router.get("/simulator/state")
    async def simulator_state(since: int | None = None):
        device = running()
        state = device.device.snapshot(since)
        state["running"] = device.started.is_set() and device.error is None
        return state

    async def page_post(request: Request) -> dict | JSONResponse:
        """The JSON object a post from the demo page itself carries (same origin, its token),
        or the refusal to answer with."""
        if (refused := same_origin.refusal(request)) is not None:
            return refused
        try:
            payload = parse_json_body(await request.body())
        except BadRequest:
            payload = None
        return payload if isinstance(payload, dict) else {}

    def invalid(message: str) -> JSONResponse:
        return JSONResponse({"status": "error", "error": "invalid_input", "message": message}, status_code=422)

    @router.post("/simulator/key")
    async def simulator_key(request: Request):
        payload = await page_post(request)
        if isinstance(payload, JSONResponse):
            return payload
        key = payload.get("key")
        if not isinstance(key, str) or key not in KEYS:
            return invalid("key must be one of " + "".join(sorted(KEYS)))
        if not running().press(key):
            return JSONResponse(
                {"status": "error", "error": "busy", "message": "too many queued keys"},
                status_code=429,
                headers={"Retry-After": "1"},
            )
        return {"status": "ok", "key": key}

    @router.post("/simulator/network")
    async def simulator_network(request: Request):
        """The demo's network switch: {"online": false} makes every call of the simulated
        door fail as if the backend were unreachable (try the offline codes)."""
        payload = await page_post(request)
        if isinstance(payload, JSONResponse):
            return payload
        online = payload.get("online")
        if not isinstance(online, bool):
            return invalid("online must be true or false")
        running().device.set_network(online)
        return {"status": "ok", "network": "online" if online else "offline"}

    @router.get("/simulator/static/{name}")
    async def simulator_static(name: str):
        if name not in STATIC:
            raise HTTPException(404)
        return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    @router.get("/inbox")
    async def inbox_page(request: Request):
        mails = [_mail_view(m) for m in sink.messages()]
        return templates.TemplateResponse(request, "inbox.html", {"mails": mails, "door_name": door_name})

    return router
