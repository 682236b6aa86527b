"""Every admin route's access rule, tried as an anonymous visitor, a member and an
administrator; CSRF and origin checks on every state-changing route; members kept to their own
records whatever IDs or extra fields they send."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from smartdoor.admin import ROUTERS

# (method, path, rule): public = anyone; pending = a login or set-up in progress;
# login = any logged-in person (admin or member); admin = administrators only
ROUTES = [
    ("GET", "/admin/login", "public"),
    ("POST", "/admin/login", "public"),
    ("GET", "/admin/setup", "public"),
    ("POST", "/admin/setup/start", "public"),
    ("GET", "/admin/static/{name}", "public"),
    ("GET", "/admin/login/verify", "pending"),
    ("POST", "/admin/login/passkey/options", "pending"),
    ("POST", "/admin/login/passkey", "pending"),
    ("POST", "/admin/login/email", "pending"),
    ("POST", "/admin/login/code", "pending"),
    ("GET", "/admin/setup/password", "pending"),
    ("POST", "/admin/setup/password", "pending"),
    ("GET", "/admin/setup/passkey", "pending"),
    ("POST", "/admin/setup/finish", "pending"),
    ("POST", "/admin/passkeys/options", "login"),  # or a set-up whose password is set
    ("POST", "/admin/passkeys", "login"),
    ("POST", "/admin/logout", "login"),
    ("POST", "/admin/logout-everywhere", "login"),
    ("GET", "/admin/me", "login"),
    ("GET", "/admin/account", "login"),
    ("POST", "/admin/account/password", "login"),
    ("POST", "/admin/account/passkeys/{passkey_id}/remove", "login"),
    ("GET", "/admin/audit", "login"),  # a member: only their own events
    ("GET", "/admin/audit/export", "login"),
    ("GET", "/admin/audit/live", "login"),
    ("GET", "/admin", "admin"),  # a member is sent to /admin/me
    ("GET", "/admin/doors/new", "admin"),
    ("POST", "/admin/doors", "admin"),
    ("GET", "/admin/doors/{door_id}", "admin"),
    ("POST", "/admin/doors/{door_id}/clear-lockout", "admin"),
    ("POST", "/admin/doors/{door_id}/rotate-secret", "admin"),
    ("POST", "/admin/doors/{door_id}/offline", "admin"),
    ("POST", "/admin/doors/{door_id}/offline/{credential_id}/revoke", "admin"),
    ("GET", "/admin/people", "admin"),
    ("POST", "/admin/people", "admin"),
    ("GET", "/admin/people/{person_id}", "admin"),
    ("POST", "/admin/people/{person_id}", "admin"),
    ("POST", "/admin/people/{person_id}/disable", "admin"),
    ("POST", "/admin/people/{person_id}/enable", "admin"),
    ("POST", "/admin/people/{person_id}/remove", "admin"),
    ("POST", "/admin/people/{person_id}/setup-link", "admin"),
    ("POST", "/admin/people/{person_id}/push", "admin"),
    ("POST", "/admin/people/{person_id}/push/remove", "admin"),
]
EXTRA_ROUTES = [  # with smartdoor.access
    ("POST", "/admin/people/{person_id}/grants", "admin"),
    ("POST", "/admin/grants/{grant_id}/remove", "admin"),
    ("POST", "/admin/doors/{door_id}/settings", "admin"),
    ("POST", "/admin/doors/{door_id}/command", "admin"),
]


def all_routes():
    return ROUTES + EXTRA_ROUTES


def admin_routes() -> set[tuple[str, str]]:
    found = set()
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute) and route.path.startswith("/admin")
            found |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return found


def concrete(path: str, ids: dict) -> str:
    return path.format(**{k: ids.get(k, "x") for k in ("name", "door_id", "person_id", "credential_id", "passkey_id",
                                                         "grant_id")})  # fmt: skip


async def test_the_table_names_every_admin_route(harness):
    assert admin_routes() == {(m, p) for m, p, _ in all_routes()}
    served = await harness.http.get("/admin/login")
    assert served.status_code == 200  # and create_app() mounts them


@pytest.fixture
async def ids(admin_app):
    door = await admin_app.add_door()
    return {"door_id": door.door_id, "person_id": admin_app.max["_id"], "name": "admin.css", "credential_id": "o1",
            "passkey_id": "k1", "grant_id": "g1"}  # fmt: skip


async def _send(browser, method: str, path: str, *, csrf: bool = True):
    if method == "GET":
        return await browser.http.get(path, headers={"Accept": "text/html"})
    if path.endswith(("/options", "/passkey", "/passkeys", "/setup/start")):
        return await browser.post_json(path, {})
    return await browser.post(path, {}, csrf=csrf)


async def test_anonymous_visitors_reach_only_public_routes(admin_app, browsers, ids):
    b = browsers()
    for method, path, rule in all_routes():
        if rule == "public":
            continue
        r = await _send(b, method, concrete(path, ids))
        if method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/admin/login"), (method, path)
        else:
            assert r.status_code in (401, 403), (method, path, r.status_code)


async def test_members_reach_no_admin_route(admin_app, max_, ids):
    for method, path, rule in all_routes():
        if rule != "admin":
            continue
        r = await _send(max_, method, concrete(path, ids))
        if (method, path) == ("GET", "/admin"):
            assert r.status_code == 303 and r.headers["location"] == "/admin/me"
        else:
            assert r.status_code == 403, (method, path, r.status_code)
    # nothing changed and nothing was made
    assert (await admin_app.db.people.find_one({"_id": admin_app.max["_id"]}))["role"] == "member"
    assert await admin_app.db.setup_links.count_documents({}) == 0


async def test_members_reach_their_own_pages(admin_app, max_):
    for path in ("/admin/me", "/admin/account", "/admin/audit", "/admin/audit/export?format=csv"):
        assert (await max_.get(path)).status_code == 200, path


async def test_every_state_changing_route_wants_the_csrf_token(admin_app, ada, ids):
    for method, path, rule in all_routes():
        if method != "POST" or (rule == "public" and path == "/admin/setup/start"):
            continue
        url = concrete(path, ids)
        if path.endswith(("/options", "/passkey", "/passkeys")):
            r = await ada.http.post(url, json={}, headers={"Accept": "application/json"})
        else:
            r = await ada.post(url, {}, csrf=False)
        assert r.status_code in (401, 403), (path, r.status_code)
        if r.status_code == 403:
            assert "csrf" in r.text or "form" in r.text.lower(), path
    assert (await ada.get("/admin")).status_code == 200  # still logged in: nothing was done


async def test_a_request_from_another_origin_is_refused_even_with_the_token(admin_app, ada, ids):
    r = await ada.post(f"/admin/doors/{ids['door_id']}/clear-lockout", {}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = await ada.post(f"/admin/doors/{ids['door_id']}/clear-lockout", {}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert await admin_app.audit(event="lockout_cleared") == []
    r = await ada.post(f"/admin/doors/{ids['door_id']}/clear-lockout", {}, headers={"Origin": "http://door.test"})
    assert r.status_code == 303


async def test_extra_fields_are_refused_not_applied(admin_app, ada, max_):
    # a member posting role=admin anywhere they may post
    r = await max_.post("/admin/account/password", {"current": "x", "password": "y", "confirm": "y", "role": "admin"})
    assert r.status_code == 422 and "role" in r.text
    r = await max_.post(f"/admin/people/{admin_app.max['_id']}", {"role": "admin"})
    assert r.status_code == 403
    # an administrator's form takes only its own fields
    r = await ada.post(f"/admin/people/{admin_app.max['_id']}", {"name": "Max", "active": "false"})
    assert r.status_code == 422
    r = await ada.post(f"/admin/people/{admin_app.max['_id']}", {"name": "Max", "password_hash": "$argon2id$x"})
    assert r.status_code == 422
    r = await ada.post("/admin/people", {"name": "Eve", "email": "eve@example.com", "_id": "p000000000000"})
    assert r.status_code == 422
    max_record = await admin_app.db.people.find_one({"_id": admin_app.max["_id"]})
    assert max_record["role"] == "member" and max_record["active"] and max_record["password_hash"] != "$argon2id$x"
    assert await admin_app.db.people.count_documents({"email": "eve@example.com"}) == 0


async def test_a_member_sees_only_their_own_history(admin_app, max_):
    from smartdoor.audit.service import record

    door = await admin_app.add_door()
    now = admin_app.clock.now()
    await record(admin_app.db, now=now, event="code_verified", outcome="success", door=door.door_id,
                 person=admin_app.ada["_id"], reason="ada-secret-visit")  # fmt: skip
    await record(admin_app.db, now=now, event="code_verified", outcome="success", door=door.door_id,
                 person=admin_app.max["_id"], reason="max_visit")  # fmt: skip
    for query in ("", f"?person={admin_app.ada['_id']}", f"?door={door.door_id}", "?reason=ada-secret-visit"):
        page = await max_.get("/admin/audit" + query)
        table = page.text.split("<tbody>")[1]  # the filter form and the links echo what was asked
        assert page.status_code == 200 and "ada-secret-visit" not in table, query
        export = await max_.get("/admin/audit/export?format=jsonl&" + query.lstrip("?"))
        assert export.status_code == 200 and "ada-secret-visit" not in export.text, query
        assert admin_app.ada["_id"] not in export.text
    assert "max_visit" in (await max_.get("/admin/audit")).text
    assert "max_visit" in (await max_.get("/admin/me")).text
    assert "Ada" not in (await max_.get("/admin/audit")).text  # no other person's name in the filters


async def test_a_member_cannot_remove_another_persons_passkey(admin_app, ada, max_):
    await admin_app.db.passkeys.insert_one({"_id": "adas-key", "person": admin_app.ada["_id"], "label": "x",
                                            "created_at": admin_app.clock.now()})  # fmt: skip
    await max_.get("/admin/account")
    r = await max_.post("/admin/account/passkeys/adas-key/remove")
    assert r.status_code == 404
    assert await admin_app.db.passkeys.count_documents({"_id": "adas-key"}) == 1
