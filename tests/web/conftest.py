"""The browser tests' Chromium (Debian's, through Playwright) and the administrator's phone."""

from __future__ import annotations

import os

import pytest

from tests.web.admin_steps import PHONE, AdminPhone, virtual_authenticator
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian chromium is needed: ./scripts/setup.sh --test installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def admin_phone(browser):
    """A phone-sized context (downloads on) with a virtual passkey authenticator and one page,
    its script errors collected; closed after the test."""
    context = browser.new_context(viewport=PHONE, accept_downloads=True)
    phone = AdminPhone(context, context.new_page())
    phone.watch(phone.page)
    virtual_authenticator(context, phone.page)
    yield phone
    context.close()
