"""Only the demo's own page can press the simulated door's keys: another web page the viewer
visits (cross-origin, text/plain, DNS rebinding) gets a 403/415 JSON refusal and no key is
pressed. The page itself carries the token (the Chromium test drives the real page)."""

from __future__ import annotations

import re

import pytest

from smartdoor.simulator.device import DeviceThread, SimulatedDevice
from smartdoor.web.same_origin import TOKEN_HEADER, SameOrigin, is_loopback
from tests.web.test_browser import WAIT_MS, DemoProcess, wait_lcd
from tests.web.test_routes import DEMO, client_for

KEY = b'{"key": "*"}'
JSON = {"content-type": "application/json"}


@pytest.fixture
def device():
    return DeviceThread(SimulatedDevice("http://127.0.0.1:9", "dtest", "00" * 32))


async def press(device, *, headers: dict, page_token: bool = True, body: bytes = KEY):
    return await client_for(device, page_token=page_token).post("/simulator/key", content=body, headers=headers)


async def test_the_pages_own_request_presses_the_key(device):
    # what Chromium sends for the page's fetch()
    headers = {**JSON, "origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"}
    r = await press(device, headers=headers)
    assert r.status_code == 200 and r.json() == {"status": "ok", "key": "*"}
    assert device._keys.get_nowait() == "*"


@pytest.mark.parametrize(
    "headers, status",
    [
        # a page elsewhere posting a "simple" request: no CORS preflight protects it
        ({"content-type": "text/plain", "origin": "http://evil.example", "sec-fetch-site": "cross-site"}, 403),
        ({**JSON, "origin": "http://evil.example"}, 403),
        ({**JSON, "origin": "null"}, 403),
        ({**JSON, "sec-fetch-site": "cross-site"}, 403),
        ({**JSON, "sec-fetch-site": "same-site"}, 403),
        # DNS rebinding: evil.example now resolves to 127.0.0.1, so the browser calls it same-origin
        ({**JSON, "host": "evil.example:8000", "origin": "http://evil.example:8000"}, 403),
        ({**JSON, "host": "evil.example:8000", "sec-fetch-site": "same-origin"}, 403),
        ({**JSON, "host": "127.0.0.1:9999"}, 403),
        ({**JSON, "host": "127.0.0.1"}, 403),
        ({**JSON, "host": "user@127.0.0.1:8000"}, 403),
        ({**JSON, "host": "127.0.0.1:8000/x"}, 403),
        ({**JSON, "host": ""}, 403),
        # the right origin, but not JSON
        ({"content-type": "text/plain", "origin": "http://127.0.0.1:8000"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"content-type": "multipart/form-data; boundary=x"}, 415),
    ],
)
async def test_refused_and_no_key_pressed(device, headers, status):
    r = await press(device, headers=headers)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert r.json()["status"] == "error"
    assert device._keys.empty()


# named ids: the tokens are random, and every pytest-xdist worker must collect the same test names
@pytest.mark.parametrize(
    "token",
    [None, "", "x", DEMO.token[:-1], DEMO.token + "x", SameOrigin("h", 1).token],
    ids=["absent", "empty", "one character", "cut short", "one too many", "another page's"],
)
async def test_missing_or_wrong_page_token_is_refused(device, token):
    headers = {**JSON, "origin": "http://127.0.0.1:8000"}
    if token is not None:
        headers[TOKEN_HEADER] = token
    r = await press(device, headers=headers, page_token=False)
    assert r.status_code == 403 and "token" in r.json()["message"]
    assert device._keys.empty()


async def test_the_page_carries_its_token(device):
    html = (await client_for(device).get("/simulator")).text
    assert re.search(r'<meta name="demo-page-token" content="([^"]+)">', html).group(1) == DEMO.token
    assert len(DEMO.token) >= 40 and SameOrigin("127.0.0.1", 8000).token != DEMO.token  # 32 random bytes


@pytest.mark.parametrize(
    "listening, host_header, allowed",
    [
        ("127.0.0.1", "127.0.0.1:8000", True),
        ("127.0.0.1", "localhost:8000", True),
        ("127.0.0.1", "LOCALHOST:8000", True),
        ("127.0.0.1", "evil.example:8000", False),
        ("127.0.0.1", "127.0.0.2:8000", False),
        ("127.0.0.1", "192.168.1.5:8000", False),
        ("0.0.0.0", "192.168.1.5:8000", True),  # reached over the LAN by the machine's address
        ("0.0.0.0", "[fe80::1]:8000", True),
        ("0.0.0.0", "localhost:8000", True),
        ("0.0.0.0", "demo.lan:8000", False),  # a name: could be rebound
        ("0.0.0.0", "192.168.1.5:8001", False),
        ("::", "[::1]:8000", True),
        ("::1", "[::1]:8000", True),
        ("::1", "[0:0:0:0:0:0:0:1]:8000", True),
        ("::1", "localhost:8000", True),
        ("192.168.1.5", "192.168.1.5:8000", True),
        ("192.168.1.5", "localhost:8000", False),
        ("door.lan", "door.lan:8000", True),
        ("door.lan", "evil.example:8000", False),
    ],
)
def test_host_must_be_the_listening_address(listening, host_header, allowed):
    assert SameOrigin(listening, 8000).host_allowed(host_header) is allowed


def test_port_80_may_be_left_out():
    assert SameOrigin("127.0.0.1", 80).host_allowed("127.0.0.1")
    assert not SameOrigin("127.0.0.1", 8000).host_allowed("127.0.0.1")


@pytest.mark.parametrize(
    "host, loopback",
    [
        *[("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("localhost", True)],
        *[("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.5", False), ("door.lan", False)],
    ],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.browser
def test_another_origin_in_chromium_cannot_press_a_key(tmp_path, browser):
    """A page on another origin (localhost vs 127.0.0.1 is enough for the browser) posts a
    text/plain "simple request", which needs no CORS preflight: the demo refuses it. Then the
    demo's own page presses A; keys are handled in order, and A shows its screen only from
    the ready screen: a '*' that had got through would have left the door asking for a number."""
    demo = DemoProcess(tmp_path)
    try:
        url = demo.wait_for_url()
        context = browser.new_context()
        other = context.new_page()
        other.goto(url.replace("127.0.0.1", "localhost").replace("/simulator", "/inbox"))
        statuses = other.evaluate(
            """async (target) => {
                const sent = [];
                for (const body of ['{"key":"*"}', 'key=*']) {
                    const plain = {"Content-Type": "text/plain"};
                    try { await fetch(target, {method: "POST", mode: "no-cors", headers: plain, body: body}); }
                    catch (e) { sent.push("failed"); continue; }
                    sent.push("sent");
                }
                return sent;
            }""",
            url + "/key",
        )
        assert statuses == ["sent", "sent"]  # the browser did send them: the server must refuse
        page = context.new_page()
        page.goto(url)
        wait_lcd(page, "Press # or *")
        page.click('[data-key="A"]')
        page.wait_for_function("document.getElementById('machine-state').textContent === 'diag'", timeout=WAIT_MS)
        assert "No mail yet" in other.goto(url.replace("/simulator", "/inbox")).text()
    finally:
        demo.stop()
