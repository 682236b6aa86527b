"""The demo pages without a backend: hooks for automation, key validation, the state
endpoint's tone events, inbox escaping, and that `serve` never has the demo pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from doorlogic.tones import TONES
from smartdoor.main import create_app
from smartdoor.settings import Settings
from smartdoor.simulator.device import DeviceThread, SimulatedDevice
from smartdoor.web.routes import build_router, html_to_text
from smartdoor.web.same_origin import TOKEN_HEADER, SameOrigin


class FakeSink:
    def __init__(self, mails=()):
        self.mails = list(mails)

    def messages(self):
        return self.mails


def mail(subject="Your code", text="", html="", to=("demo@example.com",)):
    return {
        "received_at": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        "from": "door@example.com",
        "to": list(to),
        "subject": subject,
        "text": text,
        "html": html,
    }


@pytest.fixture
def device():
    # not started and pointing nowhere: the routes only queue keys and read snapshots
    return DeviceThread(SimulatedDevice("http://127.0.0.1:9", "dtest", "00" * 32))


DEMO = SameOrigin("127.0.0.1", 8000)  # as if the demo listened there


def client_for(device, sink=None, *, page_token: bool = True):
    """A client like the demo page's own JavaScript: its Host, and the token the page carries."""
    app = FastAPI()
    app.include_router(build_router(lambda: device, sink or FakeSink(), same_origin=DEMO))
    headers = {TOKEN_HEADER: DEMO.token} if page_token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000", headers=headers)


def test_production_app_has_no_demo_pages(tmp_path):
    app = create_app(Settings(_env_file=None, demo_mode=True, data_dir=tmp_path))
    paths = [getattr(r, "path", "") for r in app.routes]
    assert paths and not [p for p in paths if p.startswith(("/simulator", "/inbox"))], paths
    app = create_app(
        Settings(
            _env_file=None, secret_key="s" * 40, data_dir=tmp_path, legacy_api=True, legacy_allowed_clients="10.0.0.9"
        )
    )
    assert not [r for r in app.routes if getattr(r, "path", "").startswith(("/simulator", "/inbox"))]


async def test_simulator_page_has_stable_hooks(device):
    device.device.lcd.show("Press # or *", "#=Lock *=Unlock")
    page = await client_for(device).get("/simulator")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    keys = re.findall(r'data-key="([^"]+)"', html)
    assert keys == list("123A456B789C*0#D")
    assert re.search(r'data-lcd-line="0">Press # or \*<', html)
    assert re.search(r'data-lcd-line="1">#=Lock \*=Unlock<', html)
    assert 'data-servo-angle="90"' in html and 'href="/inbox"' in html
    assert '"key": [[800, 50]]' in html  # the firmware's tone table, for Web Audio
    assert "http://" not in html.replace('href="http', "")  # no CDN: everything from the demo itself
    for asset, kind in (("simulator.js", "javascript"), ("style.css", "css")):
        r = await client_for(device).get("/simulator/static/" + asset)
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert (await client_for(device).get("/simulator/static/..%2Froutes.py")).status_code == 404


async def test_network_switch_and_door_id_hooks(device):
    http = client_for(device)
    html = (await http.get("/simulator")).text
    assert re.search(r"data-door-id>dtest<", html)
    assert re.search(r'data-network-toggle\s+data-network="online"', html)
    r = await http.post("/simulator/network", json={"online": False})
    assert r.json() == {"status": "ok", "network": "offline"} and device.device.network_up is False
    assert (await http.get("/simulator/state")).json()["network"] == "offline"
    assert 'data-network="offline"' in (await http.get("/simulator")).text
    assert (await http.post("/simulator/network", json={"online": "no"})).status_code == 422
    form = await http.post("/simulator/network", content=b"online=true", headers={"content-type": "text/plain"})
    assert form.status_code == 415 and device.device.network_up is False
    tokenless = await client_for(device, page_token=False).post("/simulator/network", json={"online": True})
    assert tokenless.status_code == 403 and device.device.network_up is False  # another page cannot flip it
    assert (await http.post("/simulator/network", json={"online": True})).json()["network"] == "online"


@pytest.mark.parametrize("payload", [{"key": "E"}, {"key": "**"}, {"key": 1}, {}, ["*"], {"key": ""}])
async def test_key_must_be_one_of_the_16(device, payload):
    r = await client_for(device).post("/simulator/key", json=payload)
    assert r.status_code == 422 and r.json()["status"] == "error"
    assert device._keys.empty()


async def test_key_not_json_is_422(device):
    r = await client_for(device).post("/simulator/key", content=b"*", headers={"content-type": "application/json"})
    assert r.status_code == 422


async def test_keys_are_queued_for_the_device_thread(device):
    http = client_for(device)
    for k in "*0#D":
        assert (await http.post("/simulator/key", json={"key": k})).json() == {"status": "ok", "key": k}
    assert [device._keys.get_nowait() for _ in range(4)] == list("*0#D")


async def test_state_returns_tones_since_a_sequence_number(device):
    http = client_for(device)
    device.device.buzzer.startup()
    first = (await http.get("/simulator/state")).json()  # a fresh page: no old tones, just where we are
    assert first["tones"] == [] and first["seq"] == 1
    assert first["servo"] == {"angle": 90, "state": "locked"} and first["running"] is False
    device.device.buzzer.key()
    device.device.buzzer.error()
    later = (await http.get("/simulator/state", params={"since": first["seq"]})).json()
    assert [t["name"] for t in later["tones"]] == ["key", "error"] and later["seq"] == 3
    assert all(t["name"] in TONES for t in later["tones"])
    device.device.servo.unlock()
    assert (await http.get("/simulator/state", params={"since": 3})).json()["servo"] == {
        "angle": 0,
        "state": "unlocked",
    }


async def test_pages_wait_for_the_door_to_be_provisioned():
    http = client_for(None)
    assert (await http.get("/simulator")).status_code == 503
    assert (await http.post("/simulator/key", json={"key": "*"})).status_code == 503
    assert (await http.get("/inbox")).status_code == 200


async def test_inbox_newest_first_and_escaped(device):
    sink = FakeSink(
        [mail("Newest <b>", text="Code: 123456\n<script>alert(1)</script>"), mail("Older", text="Code: 654321")]
    )
    html = (await client_for(device, sink).get("/inbox")).text
    assert html.index("Newest") < html.index("Older")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Newest &lt;b&gt;" in html
    assert re.search(r'<pre class="mail-text">Code: 123456', html)
    assert 'http-equiv="refresh"' in html and "demo@example.com" in html


async def test_inbox_html_only_mail_is_shown_as_text(device):
    sink = FakeSink([mail(html="<p>Code: <b>111222</b></p><script>steal()</script><img src=x onerror=y>")])
    html = (await client_for(device, sink).get("/inbox")).text
    assert "Code: 111222" in html and "steal()" not in html and "onerror" not in html
    assert html_to_text("<p>a</p><style>p{}</style><p>b &amp; c</p>") == "a\nb & c"


async def test_empty_inbox_says_so(device):
    assert "No mail yet" in (await client_for(device).get("/inbox")).text
