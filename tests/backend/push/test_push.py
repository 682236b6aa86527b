"""Push through apprise, for real: a person's apprise URL is `json://` to an HTTP server on
loopback (tests/backend/http_receiver.py), so apprise builds, sends and reads the answer as it
would for ntfy or Telegram; only the provider is not there. Codes go by push instead of or
as well as e-mail, watchers' notices too, a failed or silent channel turns the reply into
partial_success and nothing else, and the URL (a secret) is in no log, reply or audit."""

from __future__ import annotations

import asyncio
import logging

import pytest

from smartdoor.crypto import Unsealable
from smartdoor.doors import service as doors
from smartdoor.errors import InvalidInput
from smartdoor.people import service as people
from smartdoor.push import urls
from tests.backend.access.site import make_site
from tests.backend.http_receiver import Receiver
from tests.conftest import code_in

TOKEN = "s3cr3t-t0ken-4711"  # stands for the channel's credentials inside the URL


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def push_url(receiver: Receiver) -> str:
    return receiver.url(f"/{TOKEN}", scheme="json")


async def pushing_site(h, receiver: Receiver, delivery: str = "push"):
    site = await make_site(h)
    await site.grant(actions=["lock", "unlock"])
    await people.set_push(h.db, h.settings.keyring(), person_id=site.person["_id"], url=push_url(receiver),
                          delivery=delivery)  # fmt: skip
    return site


def pushed_code(message: dict) -> str:
    return message["message"].split("\n", 1)[0]


async def everything_stored(h) -> str:
    """The audit and the people as text: a URL's token must be nowhere in them."""
    audit = await h.db.audit.find({}).to_list()
    listed = await people.list_people(h.db)
    return repr(audit) + repr(listed)


async def test_a_persons_code_goes_by_push_alone_when_they_chose_push(harness, receiver):
    site = await pushing_site(harness, receiver)
    reply = await site.ask("4711")
    assert reply.status_code == 200 and reply.json()["status"] == "success" and reply.json()["recipients"] == 1
    (got,) = receiver.wait_for(1)
    assert got.path == f"/{TOKEN}"
    message = got.json()
    assert message["title"] == "Code to unlock Front door"
    code = pushed_code(message)
    assert code.isdigit() and len(code) == 6 and "Alice (your number)" in message["message"]
    assert harness.sink.messages() == []  # no mail: she chose push
    assert (await site.device.verify(reply.json()["challenge_id"], code)).status_code == 200
    (event,) = await site.events(event="push_delivery")
    assert (event["outcome"], event["kind"], event["person"], event["recipients"]) == (
        "success", "code", site.person["_id"], 1)  # fmt: skip
    assert await site.events(event="mail_delivery") == []
    stored = await everything_stored(harness)
    assert TOKEN not in stored and str(receiver.port) not in stored and code not in stored


async def test_both_sends_the_same_code_by_mail_and_push(harness, receiver):
    site = await pushing_site(harness, receiver, delivery="both")
    reply = await site.ask("4711")
    assert reply.json()["status"] == "success"
    (mail,) = harness.sink.wait_for(1)
    assert mail["to"] == ["alice@example.com"]
    assert pushed_code(receiver.wait_for(1)[0].json()) == code_in(mail)
    assert [e["outcome"] for e in await site.events(event={"$in": ["mail_delivery", "push_delivery"]})] == [
        "success", "success"]  # fmt: skip


async def test_a_failed_push_makes_partial_success_and_nothing_worse(harness, receiver):
    site = await pushing_site(harness, receiver, delivery="both")
    receiver.statuses = [500]
    reply = await site.ask("4711")
    body = reply.json()
    assert reply.status_code == 200 and body["status"] == "partial_success"
    assert body["reason"].startswith("push delivery failed (JSON") and TOKEN not in body["reason"]
    code = code_in(harness.sink.wait_for(1)[0])  # the mail went: the code works
    assert (await site.device.verify(body["challenge_id"], code)).status_code == 200
    (event,) = await site.events(event="push_delivery")
    assert event["outcome"] == "failure" and event["failed"] == 1 and TOKEN not in event["reason"]


async def test_a_channel_that_never_answers_holds_neither_the_loop_nor_the_reply_past_its_deadline(
    make_harness, receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    async with make_harness(push_timeout_seconds=1) as h:
        site = await pushing_site(h, receiver)
        receiver.release.clear()  # the channel takes the request and never answers
        asking = asyncio.create_task(site.ask("4711"))
        await asyncio.to_thread(receiver.wait_for, 1)
        # the push is under way and stuck: the event loop still serves other requests
        assert (await h.http.get("/api/v1/time")).status_code == 200
        assert not asking.done()
        reply = await asking  # at the push deadline
        receiver.release.set()
        assert reply.json()["status"] == "partial_success" and "timeout" in reply.json()["reason"]
        (event,) = await site.events(event="push_delivery")
        assert event["outcome"] == "failure"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and f":{receiver.port}" not in logged
    assert "push delivery through JSON failed" in logged


async def test_watchers_get_unlock_and_lockout_notices_by_push(harness, receiver):
    site = await make_site(harness)
    await site.grant(actions=["unlock"])
    bob = await site.add_person("Bob", "200")
    await people.set_push(harness.db, harness.settings.keyring(), person_id=bob["_id"], url=push_url(receiver),
                          delivery="push")  # fmt: skip
    await doors.update_settings(harness.db, door_id=site.door_id, watchers=[bob["_id"]])
    cid = (await site.ask("4711")).json()["challenge_id"]
    code = code_in(harness.sink.wait_for(1)[0])  # Alice's code, by mail as she has no push
    assert (await site.device.verify(cid, code)).status_code == 200
    await harness.settle()
    (notice,) = receiver.wait_for(1)
    assert notice.json()["title"] == "Front door unlocked by Alice"
    assert "with a code by Alice" in notice.json()["message"] and code not in notice.json()["message"]
    assert len(harness.sink.messages()) == 1  # Bob chose push: no mail to him

    cid = (await site.ask()).json()["challenge_id"]  # a shared code, then wrong ones until the lockout
    for _ in range(harness.settings.failures_per_lockout):
        await site.device.verify(cid, "000000" if code != "000000" else "111111")
    await harness.settle()
    lockout = receiver.wait_for(2)[1].json()
    assert lockout["title"] == "Front door locked out" and "wrong codes in a row" in lockout["message"]
    kinds = [(e["kind"], e["outcome"]) for e in await site.events(event="push_delivery")]
    assert kinds == [("unlock_notice", "success"), ("lockout_notice", "success")]
    mailed = [m for m in harness.sink.messages() if "locked out" in m["subject"]]
    assert [m["to"] for m in mailed] == [["shared@example.com"]]  # the door's recipient; Bob by push only


async def test_a_push_url_is_checked_sealed_and_never_echoed(harness, receiver):
    site = await make_site(harness)
    keyring = harness.settings.keyring()
    pid = site.person["_id"]
    for bad in ["bogus://" + TOKEN, "not a url " + TOKEN, "json://", "x" * 3000]:
        with pytest.raises(InvalidInput) as refused:
            await people.set_push(harness.db, keyring, person_id=pid, url=bad)
        assert TOKEN not in str(refused.value)
    with pytest.raises(InvalidInput):  # push needs a URL first
        await people.set_push(harness.db, keyring, person_id=pid, delivery="push")
    with pytest.raises(InvalidInput):
        await people.set_push(harness.db, keyring, person_id=pid, url=push_url(receiver), delivery="pigeon")
    after = await people.set_push(harness.db, keyring, person_id=pid, url=push_url(receiver), delivery="both")
    assert after["push_service"] == "JSON (json://…)" and "push_url" not in after
    stored = await harness.db.people.find_one({"_id": pid})
    assert TOKEN.encode() not in bytes(stored["push_url"])
    assert urls.open_url(keyring, pid, stored["push_url"]) == push_url(receiver)
    with pytest.raises(Unsealable):  # bound to the person: another record cannot open it
        urls.open_url(keyring, "p-someone-else", stored["push_url"])
    removed = await people.set_push(harness.db, keyring, person_id=pid, url="")
    assert removed["delivery"] == "email" and "push_service" not in removed
    assert "push_url" not in await harness.db.people.find_one({"_id": pid})


async def test_a_new_secret_key_reseals_push_urls(harness, receiver):
    from smartdoor.crypto import Keyring
    from smartdoor.push.rotation import reseal_push_urls

    site = await pushing_site(harness, receiver)
    pid = site.person["_id"]
    new = Keyring(b"n" * 40, harness.settings.master_key())  # the new key current, the old one still known
    report = await reseal_push_urls(harness.db, keyring=new)
    assert report.resealed == 1 and not report.unsealable
    stored = (await harness.db.people.find_one({"_id": pid}))["push_url"]
    assert urls.open_url(Keyring(b"n" * 40), pid, stored) == push_url(receiver)  # the new key alone opens it
    assert (await reseal_push_urls(harness.db, keyring=new)).resealed == 0  # again: nothing to do
