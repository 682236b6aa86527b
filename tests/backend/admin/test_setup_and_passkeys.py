"""The one-time set-up link (password, then a passkey) and logging in with a passkey, the
server verifying real WebAuthn signatures from a software authenticator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pymongo

from smartdoor.people.service import add_person
from tests.backend.admin.authenticator import SoftPasskey
from tests.backend.admin.helpers import PASSWORD, setup_link_for
from tests.conftest import TEST_SECRET_KEY

ORIGIN = "http://localhost"


async def _set_up(harness, browser, token: str, *, passkey: SoftPasskey | None = None):
    await browser.get("/admin/setup")
    started = await browser.http.post("/admin/setup/start", json={"token": token})
    assert started.status_code == 200, started.text
    assert started.json()["next"] == "/admin/setup/password"
    await browser.get("/admin/setup/password")
    r = await browser.post("/admin/setup/password", {"password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/admin/setup/passkey"
    page = await browser.get("/admin/setup/passkey")
    if passkey is not None:
        assert "data-passkey-register" in page.text
        options = (await browser.post_json("/admin/passkeys/options")).json()
        saved = await browser.post_json("/admin/passkeys", {"credential": passkey.register(options), "label": "phone"})
        assert saved.status_code == 200, saved.text
    done = await browser.post("/admin/setup/finish")
    assert done.status_code == 303
    return done


async def test_setup_link_password_passkey_then_passkey_login(harness, browsers_at_localhost):
    person = await add_person(harness.db, name="Ada", email="ada@example.com", role="admin", now=harness.clock.now())
    token = await setup_link_for(harness.db, person["_id"], harness.clock.now())
    key = SoftPasskey(ORIGIN)
    b = browsers_at_localhost()
    done = await _set_up(harness, b, token, passkey=key)
    assert done.headers["location"] == "/admin"
    assert (await b.get("/admin")).status_code == 200
    stored = await harness.db.people.find_one({"_id": person["_id"]})
    assert stored["password_hash"].startswith("$argon2id$") and PASSWORD not in str(stored)
    # the link worked once
    again = await browsers_at_localhost().http.post("/admin/setup/start", json={"token": token})
    assert again.status_code == 410
    # a new browser logs in: password, then the passkey
    other = browsers_at_localhost()
    assert (await other.password_step("ada@example.com")).status_code == 303
    page = await other.get("/admin/login/verify")
    assert "data-passkey-login" in page.text
    options = (await other.post_json("/admin/login/passkey/options")).json()
    assertion = key.sign(options, rp_id="localhost")
    r = await other.post_json("/admin/login/passkey", {"credential": assertion})
    assert r.status_code == 200 and r.json()["next"] == "/admin", r.text
    assert (await other.get("/admin")).status_code == 200
    events = await harness.audit(event="admin_login", outcome="success")
    assert events[-1]["method"] == "passkey" and events[-1]["person"] == person["_id"]
    added = await harness.audit(event="passkey_added")
    assert added[0]["actor"] == person["_id"]


async def test_passkey_assertions_that_must_fail(harness, browsers_at_localhost):
    person = await add_person(harness.db, name="Ada", email="ada@example.com", role="admin", now=harness.clock.now())
    key = SoftPasskey(ORIGIN)
    await _set_up(harness, browsers_at_localhost(), await setup_link_for(harness.db, person["_id"],
                  harness.clock.now()), passkey=key)  # fmt: skip

    async def attempt(make_assertion) -> int:
        b = browsers_at_localhost(client=("192.0.2.30", 1))
        await b.password_step("ada@example.com")
        await b.get("/admin/login/verify")
        options = (await b.post_json("/admin/login/passkey/options")).json()
        r = await b.post_json("/admin/login/passkey", {"credential": make_assertion(options)})
        return r.status_code

    stranger = SoftPasskey(ORIGIN)
    stranger.credential_id = key.credential_id  # same id, another key: the signature is wrong
    assert await attempt(lambda o: stranger.sign(o, rp_id="localhost")) == 401
    assert await attempt(lambda o: key.sign(o, rp_id="localhost", origin="http://evil.example")) == 401
    assert await attempt(lambda o: key.sign(o, rp_id="evil.example")) == 401
    assert await attempt(lambda o: {"id": "x", "response": "garbage"}) == 401
    assert await attempt(lambda o: key.sign(o, rp_id="localhost", count=5)) == 200
    assert await attempt(lambda o: key.sign(o, rp_id="localhost", count=3)) == 401  # counter went back: a clone
    assert await attempt(lambda o: key.sign(o, rp_id="localhost", count=6)) == 200
    # an assertion replayed onto a new challenge fails
    b = browsers_at_localhost(client=("192.0.2.31", 1))
    await b.password_step("ada@example.com")
    await b.get("/admin/login/verify")
    old = key.sign((await b.post_json("/admin/login/passkey/options")).json(), rp_id="localhost")
    await b.post_json("/admin/login/passkey/options")  # a new challenge replaces the one signed
    assert (await b.post_json("/admin/login/passkey", {"credential": old})).status_code == 401


async def test_setup_links_expire_and_refuse_weak_passwords(harness, browsers):
    person = await add_person(harness.db, name="Ada", email="ada@example.com", role="admin", now=harness.clock.now())
    old = await setup_link_for(harness.db, person["_id"], harness.clock.now())
    newer = await setup_link_for(harness.db, person["_id"], harness.clock.now())
    b = browsers()
    assert (await b.http.post("/admin/setup/start", json={"token": old})).status_code == 410  # replaced
    harness.clock.advance(25 * 3600)
    assert (await b.http.post("/admin/setup/start", json={"token": newer})).status_code == 410  # expired
    token = await setup_link_for(harness.db, person["_id"], harness.clock.now())
    assert (await b.http.post("/admin/setup/start", json={"token": token})).status_code == 200
    await b.get("/admin/setup/password")
    for password, confirm in [("short", "short"), (PASSWORD, PASSWORD + "x"), ("ada@example.com", "ada@example.com")]:
        r = await b.post("/admin/setup/password", {"password": password, "confirm": confirm})
        assert r.status_code == 422
    assert (await b.post("/admin/setup/finish")).status_code == 422  # no password yet
    # the set-up session cannot reach the admin pages
    assert (await b.get("/admin/people")).status_code == 303


async def test_a_guest_or_disabled_person_cannot_use_a_link(harness, browsers):
    guest = await add_person(harness.db, name="Gus", email="gus@example.com", role="guest", now=harness.clock.now())
    token = await setup_link_for(harness.db, guest["_id"], harness.clock.now())
    assert (await browsers().http.post("/admin/setup/start", json={"token": token})).status_code == 410


def test_cli_admin_create_prints_a_one_time_link(mongo_uri, tmp_path):
    env = {**os.environ, "MONGO_URL": mongo_uri, "MONGO_DB": "t_cli_admin_" + os.urandom(4).hex(),
           "SECRET_KEY": TEST_SECRET_KEY, "DATA_DIR": str(tmp_path),
           "ADMIN_URL": "https://door.example.com"}  # fmt: skip
    smartdoor = [str(Path(sys.executable).with_name("smartdoor"))]
    out = subprocess.run([*smartdoor, "admin", "create", "Ada@Example.com", "--name", "Ada"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("administrator: Ada <ada@example.com> (p")
    assert lines[-1].startswith("https://door.example.com/admin/setup#") and len(lines[-1].split("#")[1]) >= 40
    again = subprocess.run([*smartdoor, "admin", "create", "ada@example.com"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 0 and again.stdout.splitlines()[-1] != lines[-1]  # a new link replaces the old
    member = subprocess.run([*smartdoor, "person", "add", "Max", "--email", "max@example.com"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert member.returncode == 0
    refused = subprocess.run([*smartdoor, "admin", "create", "max@example.com"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 1 and "is a member" in refused.stderr
    with pymongo.MongoClient(mongo_uri) as client:
        client.drop_database(env["MONGO_DB"])
