"""Security headers, bad input of every kind on every admin route (a 4xx, never a 500), the
live feed's bounds, and nothing secret in the logs or the audit."""

from __future__ import annotations

import json
import logging

import httpx

from tests.backend.admin.helpers import PASSWORD
from tests.backend.admin.test_access import all_routes, concrete


async def test_security_headers_on_every_page(admin_app, ada):
    for path in ("/admin", "/admin/login", "/admin/people", "/admin/audit", "/admin/account"):
        r = await ada.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store", path
        assert "<script>" not in r.text and " style=" not in r.text and " on" + "click=" not in r.text, path
    static = await ada.get("/admin/static/admin.js")
    assert static.status_code == 200 and static.headers["cache-control"] == "no-cache"
    assert (await ada.get("/admin/static/..%2Fcore.py")).status_code == 404
    # the device API is left alone
    assert "content-security-policy" not in (await ada.http.get("/health")).headers


BAD_VALUES = ["", "x" * 5000, "\x00\u202e", "<script>alert(1)</script>", "$gt", "99999999999999999999"]
BAD_QUERIES = ["page=0", "page=-1", "page=abc", "page=999999999", "since=yesterday", "until=2026-02-30",
               "outcome=everything", "door[$ne]=x", "person=%ff%fe", "format=xml", "reason=" + "r" * 200,
               "since=0001-01-01T00:00", "next=//evil.example/"]  # fmt: skip


async def test_no_input_makes_a_500(admin_app, ada, browsers, monkeypatch):
    from smartdoor.admin import live

    monkeypatch.setattr(live, "STREAM_SECONDS", 0.05)  # the in-process client waits for a stream's end
    door = await admin_app.add_door()
    ids = {"door_id": door.door_id, "person_id": admin_app.max["_id"], "name": "admin.css"}
    anonymous = browsers()
    await anonymous.get("/admin/login")
    failures = []
    for who in (ada, anonymous):
        for method, path, _ in all_routes():
            url = concrete(path, ids)
            attempts = []
            if method == "GET":
                attempts += [who.http.get(f"{url}?{q}") for q in BAD_QUERIES]
            else:
                attempts += [who.post(url, {"name": v, "email": v, "role": v, "keypad": v, "label": v, "code": v,
                                            "password": v, "confirm": v, "current": v, "recipients": v})
                             for v in BAD_VALUES]  # fmt: skip
                form = {"Content-Type": "application/x-www-form-urlencoded"}
                as_json = {"Content-Type": "application/json", "X-CSRF-Token": who.csrf}
                attempts += [
                    who.http.post(url, content=b"\xff\xfe=\x00", headers=form),
                    who.http.post(url, content=b"not json", headers=as_json),
                    who.http.post(url, content=b"[1,2]", headers=as_json),
                    who.http.post(url, content=b"a=" + b"&a=".join([b"1"] * 500), headers=form),
                    who.http.post(url, content=b"x" * 20000, headers={"Content-Type": "text/plain"}),
                ]
            for attempt in attempts:
                r = await attempt
                if r.status_code >= 500:
                    failures.append((method, url, r.status_code, r.text[:200]))
    assert failures == []
    # odd cookies and ids
    for cookie in ("x" * 5000, "\x00", "a b"):
        r = await httpx.AsyncClient(transport=httpx.ASGITransport(app=admin_app.app), base_url="http://door.test",
                                    cookies={"sd_admin": cookie}).get("/admin")  # fmt: skip
        assert r.status_code == 303
    again = browsers()  # the fuzzing above logged Ada out (it posted to /admin/logout too)
    await again.login("ada@example.com")
    for path in ("/admin/doors/" + "d" * 500, "/admin/people/" + "p" * 500, "/admin/doors/%00"):
        assert (await again.get(path)).status_code in (404, 422)


async def test_login_next_never_leaves_the_admin_app(admin_app, browsers):
    from smartdoor.admin.forms import local_path

    for target in ("//evil.example/admin", "https://evil.example/admin", "/\\evil.example", "/admin@evil.example",
                   "javascript:alert(1)", "/adminx", ""):  # fmt: skip
        assert local_path(target) == "/admin", target
    assert local_path("/admin/people?x=1") == "/admin/people?x=1"


async def test_live_feeds_are_bounded(admin_app, ada):
    from smartdoor.admin.live import PER_PERSON

    slots = admin_app.app.state.admin.live_slots
    for _ in range(PER_PERSON):
        assert slots.take(admin_app.ada["_id"])
    r = await ada.get("/admin/audit/live")
    assert r.status_code == 429 and r.headers["retry-after"]
    for _ in range(PER_PERSON):
        slots.release(admin_app.ada["_id"])
    for i in range(admin_app.settings.admin_max_live_streams):
        assert slots.take(f"p{i}")
    assert (await ada.get("/admin/audit/live")).status_code == 429
    assert slots.open and not slots.take("someone else")


async def test_no_password_code_token_or_secret_in_logs_or_audit(admin_app, browsers, caplog):
    caplog.set_level(logging.DEBUG)
    b = browsers()
    await b.password_step("ada@example.com", "a wrong password typed")
    await b.login("ada@example.com")
    code = admin_app.sink.messages()[0]["text"].split("Login code: ")[1][:8]
    session_cookie = b.http.cookies.get("sd_admin")
    door = await admin_app.add_door()
    await b.get(f"/admin/doors/{door.door_id}")
    shown = await b.post(f"/admin/doors/{door.door_id}/rotate-secret")
    secret = shown.text.split("data-secret>")[1][:64]
    await b.get(f"/admin/people/{admin_app.max['_id']}")
    link = await b.post(f"/admin/people/{admin_app.max['_id']}/setup-link")
    token = link.text.split("/admin/setup#")[1].split("<")[0]
    audit = json.dumps(await admin_app.db.audit.find({}, {"_id": 0}).to_list(), default=str)
    logs = caplog.text
    for secret_value in (PASSWORD, "a wrong password typed", code, session_cookie, secret, token):
        assert secret_value not in audit and secret_value not in logs
    stored = json.dumps(await admin_app.db.admin_sessions.find({}).to_list(), default=str)
    assert session_cookie not in stored and code not in stored


def test_client_address_believes_forwarded_headers_from_trusted_proxies_only():
    from starlette.requests import Request

    from smartdoor.admin.web import client_address, client_group, is_https
    from smartdoor.settings import Settings
    from tests.conftest import TEST_SECRET_KEY

    settings = Settings(_env_file=None, secret_key=TEST_SECRET_KEY, trusted_proxies="10.0.0.0/8, ::1")

    def request(peer: str, **headers: str) -> Request:
        raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "client": (peer, 1), "headers": raw, "scheme": "http", "path": "/"})

    assert client_address(request("192.0.2.1", x_forwarded_for="203.0.113.5"), settings) == "192.0.2.1"
    assert client_address(request("10.0.0.2", x_forwarded_for="198.51.100.7, 203.0.113.5, 10.0.0.9"),
                          settings) == "203.0.113.5"  # fmt: skip
    assert client_address(request("10.0.0.2", x_forwarded_for="not an address"), settings) == "10.0.0.2"
    assert client_group(request("10.0.0.2", x_forwarded_for="2001:db8::1"), settings) == "2001:db8::/64"
    assert is_https(request("10.0.0.2", x_forwarded_proto="https"), settings)
    assert not is_https(request("192.0.2.1", x_forwarded_proto="https"), settings)
