"""The demo's network switch in a real browser: with the simulated door cut off, # locks
without a code and * says there is no server (no offline codes enrolled yet); the hooks an
automated test of offline codes uses are there ([data-network-toggle], [data-door-id])."""

from __future__ import annotations

from tests.web.test_browser import ARTIFACTS, WAIT_MS, browser, demo, wait_lcd  # noqa: F401 (fixtures)


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
    page.click('[data-key="*"]')
    wait_lcd(page, "OTP Sent!")
    assert errors == []
