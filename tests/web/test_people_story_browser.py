"""People and access from end to end, in Debian chromium (Playwright), against one backend whose
clock the test moves: `create_app(settings, clock=FakeClock)` served by uvicorn in a thread (a
test's own app, no production setting). The first administrator, set up from `smartdoor admin
create` and logged in with a password and a passkey, adds a person and a weekday 09:00-17:00
grant in the admin app and watches the door. At a simulated door (the firmware's own state
machine, on the demo's simulator page, talking to the backend over real HTTP with real
signatures) that person types their number: refused at 18:00 ("Not allowed now"), let in at
10:00 the next morning with the code mailed to them alone. The watcher is mailed; the audit,
filtered by that person, is exported; a remote lock from the admin app reaches the door (servo
at 90 degrees) and shows in the live feed. Screenshots: artifacts/."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartdoor.clock import FakeClock
from smartdoor.simulator.device import DeviceThread, SimulatedDevice
from smartdoor.web.routes import build_router
from smartdoor.web.same_origin import SameOrigin
from tests.conftest import LiveBackend, build_settings, code_in
from tests.web.admin_steps import (
    add_person,
    add_weekday_grant,
    admin_create,
    log_out_and_in_with_passkey,
    set_up_with_password_and_passkey,
)
from tests.web.test_browser import ARTIFACTS, WAIT_MS, wait_lcd

pytestmark = pytest.mark.browser

DOOR_NAME = "Front door"  # its time zone stays UTC: add_weekday_grant picks "Front door (UTC)"
HEARTBEAT_S = 2  # the door's report (its poll for remote commands): 30 s on a real door


def monday_evening(now: datetime) -> datetime:
    """The last Monday 18:00 UTC before now: the fake clock starts there, in the past, so the
    set-up link `smartdoor admin create` makes by the real clock is valid at the fake one."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=18, minute=0, second=0, microsecond=0)
    return monday if monday <= now else monday - timedelta(days=7)


@dataclass
class Story:
    backend: LiveBackend
    clock: FakeClock
    door_id: str
    door: DeviceThread
    page_info: dict

    @property
    def base(self) -> str:
        return f"http://localhost:{self.backend.port}"  # passkeys want a name, not 127.0.0.1

    def mails_to(self, address: str) -> list[dict]:
        """The mails to address so far, newest first."""
        return [m for m in self.backend.sink.messages() if address in m["to"]]

    def wait_for_mail(self, address: str, subject: str = "") -> dict:
        deadline = time.monotonic() + WAIT_MS / 1000
        while not (found := [m for m in self.mails_to(address) if subject in m["subject"]]):
            assert time.monotonic() < deadline, f"no mail to {address} about {subject!r}"
            time.sleep(0.05)
        return found[0]


@pytest.fixture
def story(mongo_uri, tmp_path, smtp_sink):
    controller, sink = smtp_sink
    clock = FakeClock(monday_evening(datetime.now(UTC)))
    # the story spans a night: sessions outlast the clock's jump of 16 hours
    settings = build_settings(mongo_uri, tmp_path, controller.port, admin_idle_minutes=24 * 60, admin_session_hours=48)
    holder: dict = {}

    def simulator_page(port: int) -> tuple:
        return (build_router(lambda: holder.get("door"), sink, same_origin=SameOrigin("127.0.0.1", port),
                             door_name=DOOR_NAME, person=lambda: holder.get("person")),)  # fmt: skip

    backend = LiveBackend(settings, sink, clock=clock, routers=simulator_page)
    backend.start()
    door_id, secret = backend.add_door(DOOR_NAME)
    device = SimulatedDevice(backend.url, door_id, secret, machine_options={"heartbeat_s": HEARTBEAT_S})
    holder["door"] = thread = DeviceThread(device)
    thread.start()
    try:
        yield Story(backend, clock, door_id, thread, holder)
    finally:
        thread.stop()  # before the database goes
        backend.stop()


def press(page, keys: str) -> None:
    for k in keys:
        page.click(f'[data-key="{k}"]')


def type_number(page, number: str, shoot=None) -> None:
    """After * or #: the number, a digit at a time (each one seen on the LCD: the page posts
    every key on its own), then #."""
    wait_lcd(page, "Your number:", "none? press #")
    for i in range(len(number)):
        press(page, number[i])
        wait_lcd(page, "Your number:", number[: i + 1] + "  #=OK")
    if shoot:
        shoot()
    press(page, "#")


def type_code(page, digits: str, typed: int = 0, length: int = 6) -> None:
    """Code digits, each seen on the LCD before the next (the last one submits)."""
    for digit in digits:
        press(page, digit)
        typed += 1
        if typed < length:
            wait_lcd(page, "Unlock code:", "*" * typed + "_" * (length - typed))


def lcd_strip(browser, shots: list[tuple[str, bytes]], path: Path) -> None:
    """The LCD at each step, with what happened, side by side in one picture (for the docs)."""
    cells = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, png in shots
    )
    style = ("body{margin:16px;font:15px/1.35 system-ui,sans-serif;color:#222;display:grid;"
             "grid-template-columns:repeat(3,1fr);gap:18px 16px}figure{margin:0}img{width:100%}"
             "figcaption{margin-top:6px}")  # fmt: skip
    page = browser.new_page(viewport={"width": 960, "height": 300})
    page.set_content(f"<style>{style}</style>{cells}")
    page.screenshot(path=str(path), full_page=True)
    page.close()


def test_a_person_refused_at_18_let_in_at_10_watched_audited_and_locked_from_afar(story, browser, admin_phone):
    base = story.base
    ARTIFACTS.mkdir(exist_ok=True)

    # --- the administrator: set up, a person with a weekday 09:00-17:00 grant, the door watched
    link = admin_create(story.backend, "ada@example.com", "Ada", base)
    office, admin, errors = admin_phone.context, admin_phone.page, admin_phone.errors
    set_up_with_password_and_passkey(admin, link, base)
    log_out_and_in_with_passkey(admin, base, "ada@example.com")
    max_id = add_person(admin, "Max Mustermann", "max@example.com")
    number = admin.locator("dt:text-is('Keypad number') + dd code").inner_text().strip()
    assert re.fullmatch(r"[0-9]{1,6}", number)
    story.page_info["person"] = (number, "Max Mustermann")
    add_weekday_grant(admin)  # at 18:00 on a Monday: not now

    admin.goto(f"{base}/admin/doors/{story.door_id}")
    admin.select_option('select[name="watchers"]', label="Ada")
    admin.click('form[action$="/settings"] button[type="submit"]')
    admin.wait_for_url(re.compile(r".*done=settings_saved.*"), timeout=WAIT_MS)
    assert admin.locator('select[name="watchers"] option[selected]').inner_text() == "Ada"

    # --- at the door, Monday 18:00: the person's number, refused
    street = browser.new_context(viewport={"width": 900, "height": 760})
    door = street.new_page()
    admin_phone.watch(door)
    door.goto(base + "/simulator", timeout=WAIT_MS)
    wait_lcd(door, "Press # or *", "#=Lock *=Unlock")
    assert f"type {number} (Max Mustermann's)" in door.locator(".help").inner_text()
    lcd = door.locator(".lcd")
    shots = []
    press(door, "*")
    wait_lcd(door, "Your number:", "none? press #")
    shots.append(("* (unlock) or # (lock): the door asks for a number; # alone asks for the door's shared code",
                  lcd.screenshot()))  # fmt: skip
    type_number(door, number, shoot=lambda: shots.append((f"Monday 18:00: Max types his number, {number}, and #",
                                                          lcd.screenshot())))  # fmt: skip
    wait_lcd(door, "Not allowed now", "Ask an admin")
    shots.append(("Refused: his grant is Monday to Friday, 09:00-17:00 (the reason goes to the audit only)",
                  lcd.screenshot()))  # fmt: skip
    assert door.locator('[data-servo-angle="90"]').count() == 1
    door.screenshot(path=str(ARTIFACTS / "keypad-person-refused.png"), full_page=True)
    assert story.mails_to("max@example.com") == []  # a code is mailed before the door gets its reply

    # --- Tuesday 10:00: the same number lets them in, with the code mailed to them alone
    story.clock.advance(16 * 3600)
    wait_lcd(door, "Press # or *")
    press(door, "*")
    type_number(door, number)
    wait_lcd(door, "OTP Sent!", "Check Email")
    mail = story.wait_for_mail("max@example.com")
    assert mail["to"] == ["max@example.com"] and len(story.mails_to("max@example.com")) == 1
    wait_lcd(door, "Unlock code:")
    door.screenshot(path=str(ARTIFACTS / "keypad-person-code.png"), full_page=True)
    code = code_in(mail)
    type_code(door, code[:3])
    shots.append(("Tuesday 10:00: the same keys; the code is mailed to Max alone, and he types it", lcd.screenshot()))
    type_code(door, code[3:], typed=3)
    door.wait_for_selector('[data-servo-angle="0"]', timeout=WAIT_MS)
    wait_lcd(door, "Door Unlocked", "Welcome")
    shots.append(("Unlocked; the door's watcher is mailed who unlocked it, and how", lcd.screenshot()))
    door.screenshot(path=str(ARTIFACTS / "keypad-person-unlocked.png"), full_page=True)

    # --- the watcher is told who unlocked, and how
    notice = story.wait_for_mail("ada@example.com", subject="unlocked")
    assert notice["subject"] == f"Smart Door: {DOOR_NAME} unlocked by Max Mustermann"
    assert "10:0" in notice["text"] and "code" in notice["text"]
    assert not re.search(r"\b\d{6}\b", notice["text"].replace(number, ""))  # no code in it

    # --- the audit: that person's events, and the export of exactly that view
    admin.goto(base + "/admin/audit")
    admin.select_option('select[name="person"]', label="Max Mustermann")
    admin.click('form.filters button[type="submit"]')
    admin.wait_for_url(re.compile(rf".*person={max_id}.*"), timeout=WAIT_MS)
    shown = admin.locator("table.events tbody").inner_text()
    assert "outside_schedule" in shown
    admin.screenshot(path=str(ARTIFACTS / "keypad-person-audit.png"), full_page=True)
    with admin.expect_download(timeout=WAIT_MS) as download:
        admin.click('[data-export="csv"]')
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert exported and {row["person"] for row in exported} == {max_id}
    seen = {(row["event"], row["outcome"], row["reason"]) for row in exported}
    assert ("code_request", "refused", "outside_schedule") in seen
    assert ("code_request", "success", "") in seen and ("verify", "success", "") in seen
    assert len(exported) == admin.locator("table.events tbody tr").count()

    # --- a remote lock from the admin app: at the door with its next report, in the live feed
    admin.goto(base + "/admin/audit")
    admin.wait_for_function("document.querySelector('[data-live-status]').textContent.includes('on')",
                            timeout=WAIT_MS)  # fmt: skip
    control = office.new_page()
    control.goto(f"{base}/admin/doors/{story.door_id}")
    control.click('form[action$="/command"] input[value="lock"] ~ button')
    control.wait_for_url(re.compile(r".*done=command_queued.*"), timeout=WAIT_MS)
    door.wait_for_selector('[data-servo-angle="90"]', timeout=WAIT_MS)
    wait_lcd(door, "Door Locked", "(remote)")
    shots.append(("Lock from the admin app: done at the door's next report, and confirmed", lcd.screenshot()))
    door.screenshot(path=str(ARTIFACTS / "keypad-remote-lock.png"), full_page=True)
    lcd_strip(browser, shots, ARTIFACTS / "keypad-people.png")
    admin.wait_for_selector('tr[data-live-event="remote_command"]', timeout=WAIT_MS)
    admin.screenshot(path=str(ARTIFACTS / "keypad-remote-lock-live.png"), full_page=True)
    done = story.backend.call(story.backend.db.audit.find({"event": "remote_command", "door": story.door_id,
                                                            "outcome": "success"}).to_list())  # fmt: skip
    assert len(done) == 1 and done[0]["action"] == "lock" and done[0]["actor"] == done[0]["person"] != max_id
    assert story.door.device.servo.moves.count(90) == 2  # the boot, then the remote lock: once
    control.reload()
    assert control.locator("[data-state]").inner_text() == "locked"
    assert errors == []
    street.close()
