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
