"""The demo's network switch and offline codes in a real browser: with the simulated door cut
off, # locks without a code, * asks for an offline code once an authenticator is enrolled, and
the use reaches the audit when the door is back online."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse

from doorlogic import totp
from tests.web.test_browser import ARTIFACTS, WAIT_MS, demo, wait_lcd  # noqa: F401 (demo: a fixture)


def test_network_switch_takes_the_door_offline_and_back(demo, browser):  # noqa: F811
    url = demo.wait_for_url()
    page = browser.new_context(viewport={"width": 900, "height": 760}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, timeout=WAIT_MS)
    wait_lcd(page, "Press # or *", "#=Lock *=Unlock")
    assert page.locator("[data-door-id]").inner_text().strip()
    toggle = page.locator("[data-network-toggle]")
    assert toggle.get_attribute("data-network") == "online"

    toggle.click()
    page.wait_for_selector('[data-network-toggle][data-network="offline"]', timeout=WAIT_MS)
    page.click('[data-key="#"]')
    wait_lcd(page, "Door Locked", "(offline)")
    assert page.locator('[data-servo-angle="90"]').count() == 1
    wait_lcd(page, "Press # or *")
    page.click('[data-key="*"]')
    wait_lcd(page, "No server", "Try again later")  # nothing enrolled: no offline code to ask for
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "simulator-offline.png"), full_page=True)

    toggle.click()
    page.wait_for_selector('[data-network-toggle][data-network="online"]', timeout=WAIT_MS)
    wait_lcd(page, "Press # or *")
    page.click('[data-key="*"]')  # online again: the door asks for a number first
    wait_lcd(page, "Your number:")
    page.click('[data-key="#"]')
    wait_lcd(page, "OTP Sent!")
    assert errors == []


def test_offline_code_from_an_authenticator_opens_the_demo_door(demo, browser, tmp_path):  # noqa: F811
    """The newcomer's path through offline mode: enrol an authenticator for the demo door with
    the CLI, let the door fetch it (A: a signed state report), cut the network, type the app's
    6 digits; back online, the use reaches the audit."""
    url = demo.wait_for_url()
    page = browser.new_context(viewport={"width": 900, "height": 760}).new_page()
    page.goto(url, timeout=WAIT_MS)
    wait_lcd(page, "Press # or *", "#=Lock *=Unlock")
    door_id = page.locator("[data-door-id]").inner_text().strip()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "SECRET_KEY", "DATA_DIR")}
    env["DEMO_MODE"] = "true"
    cli = [sys.executable, "-m", "smartdoor.cli"]
    enrolled = subprocess.run([*cli, "door", "offline-enroll", door_id, "--label", "Demo phone", "--json"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    uri = json.loads(enrolled.stdout)["uri"]
    b32 = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    secret = base64.b32decode(b32 + "=" * (-len(b32) % 8))

    page.click('[data-key="A"]')  # diagnostics: a signed state report brings the credential
    page.click('[data-key="A"]')
    time.sleep(1.5)
    page.click('[data-key="C"]')
    wait_lcd(page, "Press # or *")
    page.locator("[data-network-toggle]").click()
    page.wait_for_selector('[data-network-toggle][data-network="offline"]', timeout=WAIT_MS)
    page.click('[data-key="*"]')
    wait_lcd(page, "Offline code:")
    for digit in totp.hotp(secret, totp.step_of(int(time.time()))):
        page.click(f'[data-key="{digit}"]')
    wait_lcd(page, "Door Unlocked", "(offline)")
    page.wait_for_selector('[data-servo-angle="0"]', timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "simulator-offline-code.png"), full_page=True)

    page.locator("[data-network-toggle]").click()  # back online: the use is uploaded
    page.wait_for_selector('[data-network-toggle][data-network="online"]', timeout=WAIT_MS)
    deadline = time.monotonic() + 60
    while True:
        audit = subprocess.run([*cli, "audit", "--door", door_id, "--format", "jsonl"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        uses = [e for e in map(json.loads, audit.stdout.splitlines()) if e["event"] == "offline_use"]
        if uses or time.monotonic() > deadline:
            break
        page.click('[data-key="A"]')  # any call to the backend makes the door upload what it queued
        page.click('[data-key="C"]')
        time.sleep(2)
    assert len(uses) == 1 and uses[0]["label"] == "Demo phone" and uses[0]["action"] == "unlock"
    assert b32 not in audit.stdout
