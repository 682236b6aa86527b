"""Logging in: password then a second factor (e-mailed code or passkey), sessions in the
database, cookies, logout and "log out everywhere"."""

from __future__ import annotations

from smartdoor.admin.sessions import token_hash
from tests.backend.admin.helpers import PASSWORD


async def test_login_with_the_mailed_code_reaches_the_dashboard(admin_app, browsers):
    b = browsers()
    await b.login("ada@example.com")
    page = await b.get("/admin")
    assert page.status_code == 200 and "Doors" in page.text
    sessions = await admin_app.db.admin_sessions.find({"person": admin_app.ada["_id"]}).to_list()
    assert [s["stage"] for s in sessions] == ["full"]
    cookie = b.http.cookies.get("sd_admin")
    assert sessions[0]["_id"] == token_hash(cookie) and cookie not in str(sessions)
    events = await admin_app.audit(event="admin_login", outcome="success")
    assert events[-1]["person"] == admin_app.ada["_id"] and events[-1]["method"] == "email_code"


async def test_wrong_password_unknown_account_and_guest_get_the_same_answer(admin_app, browsers):
    from smartdoor.people.service import add_person

    await add_person(admin_app.db, name="Gus", email="gus@example.com", role="guest", now=admin_app.clock.now())
    answers = []
    for email, password in [("ada@example.com", "wrong password!!"), ("nobody@example.com", PASSWORD),
                            ("gus@example.com", PASSWORD)]:  # fmt: skip
        b = browsers(client=(f"192.0.2.{len(answers) + 20}", 1))
        r = await b.password_step(email, password)
        answers.append((r.status_code, "Wrong e-mail address or password." in r.text))
        assert "sd_admin" not in b.http.cookies
    assert answers == [(401, True)] * 3
    failures = await admin_app.audit(event="admin_login", outcome="failure")
    assert [e["person"] for e in failures] == [admin_app.ada["_id"], None, failures[2]["person"]]
    assert "wrong password!!" not in str(failures)


async def test_a_password_alone_opens_nothing(admin_app, browsers):
    b = browsers()
    assert (await b.password_step("ada@example.com")).headers["location"] == "/admin/login/verify"
    for path in ("/admin", "/admin/people", "/admin/audit", "/admin/account", "/admin/me"):
        r = await b.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login?next="), path


async def test_thirty_parallel_guesses_get_at_most_five_password_checks(admin_app, browsers, monkeypatch):
    """Count first: each guess is counted before its password is checked, so racing guesses
    on one account (from many addresses) cannot get more checks than the limit allows."""
    import asyncio

    from smartdoor.admin import passwords

    checked = []
    real = passwords._verify
    monkeypatch.setattr(passwords, "_verify", lambda h, p: checked.append(p) or real(h, p))
    guessers = [browsers(client=(f"198.51.100.{i}", 1)) for i in range(30)]
    for g in guessers:
        await g.get("/admin/login")
    replies = await asyncio.gather(*(
        g.post("/admin/login", {"email": "ada@example.com", "password": f"guess number {i:04}"})
        for i, g in enumerate(guessers)
    ))  # fmt: skip
    statuses = sorted(r.status_code for r in replies)
    assert len(checked) == 5 and statuses == [401] * 5 + [429] * 25
    assert all(r.headers.get("retry-after") for r in replies if r.status_code == 429)
    # even the right password waits now; after the wait it works
    late = browsers(client=("203.0.113.9", 1))
    assert (await late.password_step("ada@example.com")).status_code == 429
    admin_app.clock.advance(31)
    assert (await late.password_step("ada@example.com")).status_code == 303


async def test_one_source_cannot_walk_through_many_accounts(admin_app, browsers):
    b = browsers(client=("203.0.113.50", 1))
    codes = []
    for i in range(22):
        r = await b.password_step(f"someone{i}@example.com", "not the password")
        codes.append(r.status_code)
    assert codes == [401] * 20 + [429] * 2
    # another address is not affected
    assert (await browsers(client=("203.0.113.51", 1)).password_step("ada@example.com")).status_code == 303


async def test_mailed_codes_are_limited_and_burn_after_five_wrong_ones(admin_app, browsers):
    b = browsers()
    await b.password_step("ada@example.com")
    await b.get("/admin/login/verify")
    assert (await b.post("/admin/login/email")).status_code == 303
    for _ in range(5):
        r = await b.post("/admin/login/code", {"code": "00000000"})
        assert r.status_code == 401 and "wrong code" in r.text.lower()
    admin_app.clock.advance(31)  # the account's wait after five failures
    code = admin_app.sink.messages()[0]["text"].split("Login code: ")[1][:8]
    r = await b.post("/admin/login/code", {"code": code})
    assert r.status_code == 401 and "ask for a new one" in r.text
    assert (await b.post("/admin/login/email")).status_code == 303
    assert (await b.post("/admin/login/email")).status_code == 303
    assert (await b.post("/admin/login/email")).status_code == 429  # 3 mails per 15 minutes
    assert len(admin_app.sink.messages()) == 3


async def test_two_racing_right_codes_open_one_session(admin_app, browsers):
    import asyncio

    b = browsers()
    await b.password_step("ada@example.com")
    await b.get("/admin/login/verify")
    await b.post("/admin/login/email")
    code = admin_app.sink.wait_for(1)[0]["text"].split("Login code: ")[1][:8]
    replies = await asyncio.gather(*(b.post("/admin/login/code", {"code": code}) for _ in range(4)))
    assert sorted(r.status_code for r in replies)[0] == 303
    assert [r.status_code for r in replies].count(303) == 1
    assert await admin_app.db.admin_sessions.count_documents({"person": admin_app.ada["_id"], "stage": "full"}) == 1


async def test_idle_timeout_and_absolute_lifetime(admin_app, ada):
    assert (await ada.get("/admin")).status_code == 200
    admin_app.clock.advance(29 * 60)
    assert (await ada.get("/admin")).status_code == 200  # each request moves the idle clock on
    admin_app.clock.advance(29 * 60)
    assert (await ada.get("/admin")).status_code == 200
    admin_app.clock.advance(31 * 60)
    assert (await ada.get("/admin")).status_code == 303


async def test_session_ends_at_the_absolute_lifetime(admin_app, ada):
    for _ in range(12 * 3):
        admin_app.clock.advance(20 * 60)
        r = await ada.get("/admin")
        if r.status_code != 200:
            break
    assert r.status_code == 303
    assert admin_app.clock.now() - admin_app.ada["created_at"] <= __import__("datetime").timedelta(hours=12, minutes=1)


async def test_logout_and_logout_everywhere(admin_app, browsers):
    phone, laptop, tablet = browsers(), browsers(), browsers()
    for b in (phone, laptop, tablet):
        await b.login("ada@example.com")
    r = await phone.post("/admin/logout")
    assert r.status_code == 303 and (await phone.get("/admin")).status_code == 303
    assert (await laptop.get("/admin")).status_code == 200
    await laptop.get("/admin/account")
    assert (await laptop.post("/admin/logout-everywhere")).status_code == 303
    assert (await tablet.get("/admin")).status_code == 303
    assert await admin_app.db.admin_sessions.count_documents({"person": admin_app.ada["_id"]}) == 0
    events = [e["event"] for e in await admin_app.audit(actor=admin_app.ada["_id"])]
    assert "admin_logout" in events and "admin_logout_everywhere" in events


async def test_disabling_a_person_ends_their_session_at_once(admin_app, ada, max_):
    assert (await max_.get("/admin/me")).status_code == 200
    await ada.get(f"/admin/people/{admin_app.max['_id']}")
    assert (await ada.post(f"/admin/people/{admin_app.max['_id']}/disable")).status_code == 303
    assert (await max_.get("/admin/me")).status_code == 303


async def test_cookie_flags_and_secure_behind_a_trusted_proxy_only(make_harness, browsers):
    from smartdoor.admin.web import SECURE_COOKIE

    b = browsers()
    r = await b.password_step("ada@example.com")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie and "Path=/" in cookie
    # X-Forwarded-Proto from anybody is ignored
    forged = browsers(client=("192.0.2.99", 1))
    await forged.get("/admin/login")
    r = await forged.post("/admin/login", {"email": "ada@example.com", "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https"})  # fmt: skip
    assert "Secure" not in r.headers["set-cookie"]
    async with make_harness(trusted_proxies="192.0.2.0/24") as h:
        from tests.backend.admin.helpers import Browser, add_login_person

        await add_login_person(h.db, name="Ada", email="ada@example.com", now=h.clock.now())
        proxied = Browser(h)
        page = await proxied.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in page.headers["set-cookie"]
        login_cookie = page.headers["set-cookie"].split(";")[0]  # httpx keeps Secure cookies from http URLs
        r = await proxied.post("/admin/login", {"email": "ada@example.com", "password": PASSWORD},
                               headers={"X-Forwarded-Proto": "https", "Origin": "https://door.test",
                                        "Cookie": login_cookie})  # fmt: skip
        assert r.status_code == 303, r.text[:300]
        assert r.headers["set-cookie"].startswith(SECURE_COOKIE + "=") and "Secure" in r.headers["set-cookie"]
        assert "strict-transport-security" in r.headers
        await proxied.close()
