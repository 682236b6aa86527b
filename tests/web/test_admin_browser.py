"""The admin app used as a person would, in Debian chromium (Playwright): the first
administrator's set-up link from `smartdoor admin create`, a password and a passkey (Chromium's
virtual authenticator), logging in with the passkey and with the e-mailed code (read from the
SMTP sink), adding a person, the audit filtered and exported, and the live feed showing an
event as it happens. Screenshots go to artifacts/."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartdoor.audit.service import record
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PASSWORD = "a long admin passphrase"
WAIT_MS = 15_000
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian chromium is needed: ./scripts/setup.sh --test installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def admin_create(backend, email: str, name: str, base: str) -> str:
    s = backend.settings
    env = {**os.environ, "MONGO_URL": s.mongo_url, "MONGO_DB": s.mongo_db,
           "SECRET_KEY": s.secret_key.get_secret_value(), "DATA_DIR": str(s.data_dir)}  # fmt: skip
    smartdoor = str(Path(sys.executable).with_name("smartdoor"))
    out = subprocess.run([smartdoor, "admin", "create", email, "--name", name, "--url", base], env=env,
                         capture_output=True, text=True, timeout=60, cwd=backend.settings.data_dir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def virtual_authenticator(context, page) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})  # fmt: skip


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def log_in_with_password(page, base: str, email: str) -> None:
    page.goto(base + "/admin/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(re.compile(r".*/admin/login/verify$"), timeout=WAIT_MS)


def add_weekday_grant(page) -> None:
    """On a person's page: the form's defaults are Monday to Friday, 09:00-17:00."""
    page.select_option('select[name="door"]', label="Front door (UTC)")
    page.click('form[action$="/grants"] button[type="submit"]')
    page.wait_for_url(re.compile(r".*done=grant_added.*"), timeout=WAIT_MS)
    grant = page.locator("[data-grant]")
    assert grant.count() == 1 and "mon-fri 09:00-17:00" in grant.inner_text()
    assert grant.locator('tr[data-day="Wed"] td.on').count() == 8
    assert grant.locator('tr[data-day="Sat"] td.on').count() == 0
    assert fits_the_screen(page)
    grant.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "admin-person-grants-phone.png"), full_page=True)


def test_first_admin_passkey_email_code_people_audit_and_live_feed(backend, chromium):
    base = f"http://localhost:{backend.port}"  # passkeys want a name, and http only for localhost
    door_id, _ = backend.add_door("Front door")
    now = datetime.now(UTC)
    backend.call(backend.db.doors.update_one({"_id": door_id}, {"$set": {
        "state": "locked", "state_at": now, "firmware": "1.4.2", "rssi": -58, "door_open": False}}))  # fmt: skip
    backend.add_door("Garden gate")
    link = admin_create(backend, "ada@example.com", "Ada", base)
    assert link.startswith(base + "/admin/setup#")

    context = chromium.new_context(viewport=PHONE, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # (the console's "failed to load resource" lines are the reused link's 410 and the favicon's 404)
    virtual_authenticator(context, page)

    # the set-up link: a password, then a passkey
    page.goto(link)
    page.wait_for_url(re.compile(r".*/admin/setup/password$"), timeout=WAIT_MS)
    page.fill('input[name="password"]', PASSWORD)
    page.fill('input[name="confirm"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(re.compile(r".*/admin/setup/passkey$"), timeout=WAIT_MS)
    page.fill("[data-passkey-label]", "Chromium")
    page.click("[data-passkey-register]")
    page.wait_for_selector("[data-passkey-list] li", timeout=WAIT_MS)
    page.click("[data-setup-finish]")
    page.wait_for_url(base + "/admin", timeout=WAIT_MS)
    assert page.locator(".card.door").count() == 2
    assert fits_the_screen(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard-phone.png"), full_page=True)
    # the link worked once
    page.goto(link)
    page.wait_for_selector("[data-setup-status].error", timeout=WAIT_MS)

    # log out, log in again with the password and the passkey
    page.goto(base + "/admin")
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/admin/login$"), timeout=WAIT_MS)
    log_in_with_password(page, base, "ada@example.com")
    page.click("[data-passkey-login]")
    page.wait_for_url(base + "/admin", timeout=WAIT_MS)

    # add a person
    page.click("text=People")
    page.fill('input[name="name"]', "Max Mustermann")
    page.fill('input[name="email"]', "max@example.com")
    page.click('form[action="/admin/people"] button[type="submit"]')
    page.wait_for_url(re.compile(r".*/admin/people/p[0-9a-f]+\?done=person_added$"), timeout=WAIT_MS)
    assert page.locator("h1").inner_text().startswith("Max Mustermann")
    # a weekday 9-17 grant on the front door (the form's defaults: Monday to Friday, 09:00-17:00)
    add_weekday_grant(page)

    # the e-mail fallback, in another browser (no passkey there)
    other = chromium.new_context(viewport={"width": 1100, "height": 800})
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
    context.close()
    assert errors == []
