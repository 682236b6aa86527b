"""The README's main job, in a real browser: `smartdoor demo` as a subprocess (embedded DB,
backend, SMTP sink, simulated door), driven by Playwright in headless Debian chromium (never a
downloaded browser): press * and # (no person number: the door's shared code) on /simulator,
read the code in /inbox, type it, watch the door unlock; then the demo's person asks with
their number and gets a code of their own. The screenshots are kept in artifacts/."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smartdoor.web.demo import DEMO_PERSON_EMAIL, DEMO_PERSON_KEYPAD, DEMO_PERSON_NAME

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 45
WAIT_MS = 15_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoProcess:
    def __init__(self, tmp_path: Path, *args: str, extra_env: dict | None = None) -> None:
        """`smartdoor demo --port P *args` in tmp_path, so its data is tmp_path/data."""
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "SECRET_KEY")}
        self.data_dir = tmp_path / "data"
        env.update(PYTHONUNBUFFERED="1", **(extra_env or {}))
        smartdoor = Path(sys.executable).with_name("smartdoor")
        cmd = [str(smartdoor)] if smartdoor.exists() else [sys.executable, "-m", "smartdoor.cli"]
        self.proc = subprocess.Popen(
            [*cmd, "demo", "--port", str(self.port), *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)

    def wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.output:
                m = re.search(r"https?://\S+/simulator", line)
                if m:
                    return m.group(0)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("demo did not print its URL:\n" + "".join(self.output))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        return self.proc.returncode


@pytest.fixture
def demo(tmp_path):
    d = DemoProcess(tmp_path)
    yield d
    d.stop()


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and text in cmdline:
            found.append(cmdline)
    return found


def lcd(page) -> tuple[str, str]:
    return (page.locator('[data-lcd-line="0"]').inner_text(), page.locator('[data-lcd-line="1"]').inner_text())


def wait_lcd(page, line0: str, line1: str | None = None) -> None:
    page.wait_for_function(
        "([a, b]) => document.querySelector('[data-lcd-line=\"0\"]').textContent === a"
        " && (b === null || document.querySelector('[data-lcd-line=\"1\"]').textContent === b)",
        arg=[line0, line1],
        timeout=WAIT_MS,
    )


def test_demo_in_chromium_unlocks_with_the_mailed_code(demo, browser):
    url = demo.wait_for_url()
    printed = [line for line in demo.output if "http" in line]
    assert printed == [f"Smart Door demo: open http://127.0.0.1:{demo.port}/simulator  (Ctrl-C stops)\n"]

    context = browser.new_context(viewport={"width": 900, "height": 760})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, timeout=WAIT_MS)
    wait_lcd(page, "Press # or *", "#=Lock *=Unlock")
    assert page.locator('[data-servo-angle="90"]').count() == 1
    assert page.locator("[data-key]").count() == 16

    page.click('[data-key="*"]')
    wait_lcd(page, "Your number:", "none? press #")
    page.click('[data-key="#"]')  # no number: the door's shared code
    wait_lcd(page, "OTP Sent!")

    inbox = context.new_page()
    inbox.goto(url.replace("/simulator", "/inbox"), timeout=WAIT_MS)
    inbox.wait_for_selector("pre.mail-text", timeout=WAIT_MS)
    text = inbox.locator("pre.mail-text").first.inner_text()
    code = re.search(r"Code: (\d+)", text).group(1)
    assert "demo@example.com" in inbox.locator(".mail .meta").first.inner_text()

    page.bring_to_front()
    for digit in code[:-1]:
        page.click(f'[data-key="{digit}"]')
    wait_lcd(page, "Unlock code:", "*" * (len(code) - 1) + "_")
    page.keyboard.press(code[-1])  # the physical keyboard works too
    page.wait_for_selector('[data-servo-angle="0"]', timeout=WAIT_MS)
    wait_lcd(page, "Door Unlocked", "Welcome")
    assert page.locator("#servo-state").inner_text() == "unlocked"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "simulator-unlocked.png"), full_page=True)

    # the demo's person: their number, and the code goes to them alone (the keyboard works too:
    # Enter is #, and Escape is C (cancel) during code entry)
    wait_lcd(page, "Press # or *")
    assert f"type {DEMO_PERSON_KEYPAD} ({DEMO_PERSON_NAME}'s)" in page.locator(".help").inner_text()
    page.keyboard.press("#")
    wait_lcd(page, "Your number:")
    for i, digit in enumerate(DEMO_PERSON_KEYPAD):
        page.keyboard.press(digit)
        wait_lcd(page, "Your number:", DEMO_PERSON_KEYPAD[: i + 1] + "  #=OK")  # one at a time: posted in order
    page.screenshot(path=str(ARTIFACTS / "simulator-person-number.png"), full_page=True)
    page.keyboard.press("Enter")
    wait_lcd(page, "OTP Sent!")
    inbox.reload()  # (the page reloads itself every 3 s too)
    inbox.wait_for_selector('article[data-mail-index="1"]', timeout=WAIT_MS)
    assert DEMO_PERSON_EMAIL in inbox.locator(".mail .meta").first.inner_text()
    page.keyboard.press("4")
    wait_lcd(page, "Lock code:", "*_____")
    page.keyboard.press("Backspace")
    wait_lcd(page, "Lock code:", "______")
    page.keyboard.press("Escape")
    wait_lcd(page, "Press # or *")
    assert page.locator('[data-servo-angle="0"]').count() == 1  # still unlocked: nothing verified

    phone = browser.new_context(viewport={"width": 375, "height": 740}).new_page()
    phone.goto(url, timeout=WAIT_MS)
    wait_lcd(phone, "Press # or *")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.screenshot(path=str(ARTIFACTS / "simulator-phone.png"), full_page=True)
    inbox.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)
    assert errors == []

    # Ctrl-C stops everything cleanly: uvicorn re-raises SIGINT after its shutdown (exit 130),
    # and the embedded database child goes too
    assert demo.stop() in (0, 130, -signal.SIGINT), "".join(demo.output)
    assert not processes_mentioning(str(demo.data_dir))
