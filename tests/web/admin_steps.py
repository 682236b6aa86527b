"""The admin app's steps as a person takes them in Chromium, shared by the browser stories
(test_admin_browser.py, test_people_story_browser.py): the first administrator from `smartdoor
admin create`, set up with a password and a passkey, logging in again, adding a person and a grant."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.web.test_browser import ARTIFACTS, WAIT_MS

PASSWORD = "a long admin passphrase"
PHONE = {"width": 390, "height": 844}


@dataclass
class AdminPhone:
    """A phone-sized browser context with a virtual passkey authenticator, its page, and the
    script errors of every page the story watches (watch() adds one)."""

    context: object
    page: object
    errors: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("pageerror", lambda e: self.errors.append(str(e)))


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


def set_up_with_password_and_passkey(page, link: str, base: str) -> None:
    """The set-up link: a password, then a passkey; ends on the dashboard."""
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


def log_in_with_password(page, base: str, email: str) -> None:
    page.goto(base + "/admin/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(re.compile(r".*/admin/login/verify$"), timeout=WAIT_MS)


def log_out_and_in_with_passkey(page, base: str, email: str) -> None:
    page.goto(base + "/admin")
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/admin/login$"), timeout=WAIT_MS)
    log_in_with_password(page, base, email)
    page.click("[data-passkey-login]")
    page.wait_for_url(base + "/admin", timeout=WAIT_MS)


def add_person(page, name: str, email: str) -> str:
    """From any admin page: adds the person; returns their id, on their own page."""
    page.click("text=People")
    page.fill('input[name="name"]', name)
    page.fill('input[name="email"]', email)
    page.click('form[action="/admin/people"] button[type="submit"]')
    page.wait_for_url(re.compile(r".*/admin/people/p[0-9a-f]+\?done=person_added$"), timeout=WAIT_MS)
    assert page.locator("h1").inner_text().startswith(name)
    return re.search(r"/admin/people/(p[0-9a-f]+)", page.url).group(1)


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
