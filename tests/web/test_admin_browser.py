"""The admin app used as a person would, in Debian chromium (Playwright): the first
administrator's set-up link from `smartdoor admin create`, a password and a passkey (Chromium's
virtual authenticator), logging in with the passkey and with the e-mailed code (read from the
SMTP sink), adding a person, the audit filtered and exported, and the live feed showing an
event as it happens. Screenshots go to artifacts/."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartdoor.audit.service import record
from tests.web.admin_steps import (
    add_person,
    add_weekday_grant,
    admin_create,
    fits_the_screen,
    log_in_with_password,
    log_out_and_in_with_passkey,
    set_up_with_password_and_passkey,
)
from tests.web.test_browser import ARTIFACTS, WAIT_MS

pytestmark = pytest.mark.browser


def test_first_admin_passkey_email_code_people_audit_and_live_feed(backend, browser, admin_phone):
    base = f"http://localhost:{backend.port}"  # passkeys want a name, and http only for localhost
    door_id, _ = backend.add_door("Front door")
    now = datetime.now(UTC)
    backend.call(backend.db.doors.update_one({"_id": door_id}, {"$set": {
        "state": "locked", "state_at": now, "firmware": "1.4.2", "rssi": -58, "door_open": False}}))  # fmt: skip
    backend.add_door("Garden gate")
    link = admin_create(backend, "ada@example.com", "Ada", base)
    assert link.startswith(base + "/admin/setup#")
    # (the console's "failed to load resource" lines are the reused link's 410 and the favicon's 404)
    page = admin_phone.page

    set_up_with_password_and_passkey(page, link, base)
    assert page.locator(".card.door").count() == 2
    assert fits_the_screen(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard-phone.png"), full_page=True)
    # the link worked once
    page.goto(link)
    page.wait_for_selector("[data-setup-status].error", timeout=WAIT_MS)

    log_out_and_in_with_passkey(page, base, "ada@example.com")
    add_person(page, "Max Mustermann", "max@example.com")
    # a weekday 9-17 grant on the front door (the form's defaults: Monday to Friday, 09:00-17:00)
    add_weekday_grant(page)

    # the e-mail fallback, in another browser (no passkey there)
    other = browser.new_context(viewport={"width": 1100, "height": 800})
    second = other.new_page()
    log_in_with_password(second, base, "ada@example.com")
    mails = len(backend.sink.messages())
    second.click("text=E-mail me a code")
    second.wait_for_selector('input[name="code"]', timeout=WAIT_MS)
    mail = backend.sink.wait_for(mails + 1)[0]
    code = re.search(r"Login code: (\d+)", mail["text"]).group(1)
    second.fill('input[name="code"]', code)
    second.click('form[action="/admin/login/code"] button[type="submit"]')
    second.wait_for_url(base + "/admin", timeout=WAIT_MS)
    second.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

    # the audit, filtered, exported, and live
    second.goto(base + "/admin/audit")
    second.select_option('select[name="outcome"]', "success")
    second.click('form.filters button[type="submit"]')
    second.wait_for_url(re.compile(r".*outcome=success.*"), timeout=WAIT_MS)
    rows = second.locator("table.events tbody tr").count()
    assert rows >= 2  # the two logins
    with second.expect_download(timeout=WAIT_MS) as download:
        second.click('[data-export="csv"]')
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(exported) == rows and {r["outcome"] for r in exported} == {"success"}

    second.goto(base + "/admin/audit")
    second.wait_for_function("document.querySelector('[data-live-status]').textContent.includes('on')",
                             timeout=WAIT_MS)  # fmt: skip
    backend.call(record(backend.db, now=datetime.now(UTC), event="exit_button", outcome="success", door=door_id,
                        action="unlock"))  # fmt: skip
    second.wait_for_selector('tr[data-live-event="exit_button"]', timeout=WAIT_MS)
    assert "Front door" in second.locator('tr[data-live-event="exit_button"]').inner_text()
    second.screenshot(path=str(ARTIFACTS / "admin-audit-live.png"), full_page=True)
    other.close()
    assert admin_phone.errors == []
