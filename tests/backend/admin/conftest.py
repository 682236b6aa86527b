from __future__ import annotations

import contextlib

import pytest

from tests.backend.admin.helpers import Browser, add_login_person


@pytest.fixture
async def admin_app(harness):
    """The harness with an administrator (Ada) and a member (Max), both with passwords."""
    now = harness.clock.now()
    harness.ada = await add_login_person(harness.db, name="Ada", email="ada@example.com", role="admin", now=now)
    harness.max = await add_login_person(harness.db, name="Max", email="max@example.com", role="member", now=now)
    return harness


@pytest.fixture
async def browsers(harness):
    opened: list[Browser] = []

    def make(**kw) -> Browser:
        b = Browser(harness, **kw)
        opened.append(b)
        return b

    yield make
    for b in opened:
        with contextlib.suppress(Exception):
            await b.close()


@pytest.fixture
async def ada(admin_app, browsers):
    b = browsers()
    await b.login("ada@example.com")
    return b


@pytest.fixture
async def max_(admin_app, browsers):
    b = browsers()
    await b.login("max@example.com")
    return b


@pytest.fixture
async def browsers_at_localhost(harness):
    """Browsers at http://localhost: the one plain-http origin where passkeys work."""
    opened: list[Browser] = []

    def make(**kw) -> Browser:
        b = Browser(harness, base_url="http://localhost", **kw)
        opened.append(b)
        return b

    yield make
    for b in opened:
        with contextlib.suppress(Exception):
            await b.close()
