"""/metrics after a scripted flow through the real app (embedded database over a socket, real
SMTP sink): the counts per door and outcome, the lockout, the lockout gate's replies from memory,
route templates instead of paths, the token, and nothing personal in any label."""

from __future__ import annotations

import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartdoor.integrations.metrics import DoorLabels, has_outbox
from smartdoor.settings import Settings

TOKEN = "metrics-" + "t" * 24
STATE = "/api/v1/state"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(harness) -> str:
    reply = await harness.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


def wrong(code: str) -> str:
    return "".join(str((int(c) + 1) % 10) for c in code)


async def test_counts_after_a_scripted_flow(make_harness):
    async with make_harness(metrics_token=TOKEN) as harness:
        front = await harness.add_door("Front door", recipients=("alice@example.com",))
        back = await harness.add_door("Back door", recipients=("bob@example.com",))
        await front.post(STATE, {"state": "locked", "event": "boot"})

        challenge = (await front.request_code()).json()["challenge_id"]
        code = harness.latest_code(1)
        assert (await front.verify(challenge, wrong(code))).status_code == 403
        assert (await front.verify(challenge, code)).status_code == 200

        challenge = (await back.request_code()).json()["challenge_id"]
        back_code = harness.latest_code(2)
        statuses = [(await back.verify(challenge, wrong(back_code))).status_code for _ in range(5)]
        assert statuses == [403, 403, 403, 403, 429]  # the fifth starts a lockout
        # answered by the lockout gate from memory, before any route: counted all the same
        assert (await back.verify(challenge, back_code)).status_code == 429
        # a request that does not authenticate has no door
        forged = await harness.http.post("/api/v1/otp/request", json={"action": "unlock"})
        assert forged.status_code == 401
        await harness.http.get(f"/admin/doors/{front.door_id}")
        await harness.settle()

        text = await scrape(harness)
        found = samples(text)

        def count(name, **labels):
            return found.get((name, tuple(sorted(labels.items()))))

        a, b = front.door_id, back.door_id
        assert count("smartdoor_code_requests_total", door=a, outcome="success") == 1
        assert count("smartdoor_code_requests_total", door=b, outcome="success") == 1
        assert count("smartdoor_code_requests_total", door="unknown", outcome="bad_signature") == 1
        assert count("smartdoor_verifications_total", door=a, outcome="wrong_code") == 1
        assert count("smartdoor_verifications_total", door=a, outcome="success") == 1
        assert count("smartdoor_verifications_total", door=b, outcome="wrong_code") == 4
        assert count("smartdoor_verifications_total", door=b, outcome="locked_out") == 2
        assert count("smartdoor_lockouts_total", door=b) == 1
        assert count("smartdoor_lockouts_total", door=a) is None
        assert count("smartdoor_doors_online") == 1  # only the front door has reported
        assert count("smartdoor_mqtt_publishing") == 0

        routes = {dict(labels)["route"] for (name, labels) in found if name.startswith("smartdoor_request_duration")}
        assert {"/api/v1/otp/request", "/api/v1/otp/verify", "/api/v1/state", "/admin/doors/{door_id}"} <= routes
        assert all(a not in route and b not in route for route in routes)  # templates, never the raw path
        verifies = count("smartdoor_request_duration_seconds_count", route="/api/v1/otp/verify", method="POST")
        assert verifies == 8
        # nothing personal or secret: no address, no code, no door name
        for text_never_seen in ("alice@", "bob@", code, back_code, "Front door", TOKEN):
            assert text_never_seen not in text

        # the heartbeat goes stale: the door is no longer counted
        harness.clock.advance(12 * 60)
        assert samples(await scrape(harness))[("smartdoor_doors_online", ())] == 0


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"]
)
async def test_metrics_need_the_token(make_harness, authorization):
    async with make_harness(metrics_token=TOKEN) as harness:
        headers = {"Authorization": authorization} if authorization else {}
        reply = await harness.http.get("/metrics", headers=headers)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"] == "Bearer"
        assert reply.json()["error"] == "unauthorized" and "smartdoor_" not in reply.text


async def test_no_metrics_without_a_token(harness):
    reply = await harness.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 404


def test_a_short_token_is_refused(tmp_path):
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Settings(_env_file=None, secret_key="k" * 40, data_dir=tmp_path, metrics_token="short")


def test_door_labels_are_bounded():
    labels = DoorLabels(limit=2)
    assert [labels("d1"), labels("d2"), labels("d3"), labels("d1")] == ["d1", "d2", "other", "d1"]
    assert labels("a b") == labels("x" * 65) == labels(None) == "other"


async def test_mail_waiting_in_the_outbox(make_harness):
    """A code's mail that the relay did not take waits in the outbox: one pending. A backend
    without the outbox has no such gauge (rather than a 0 that would say nothing is waiting)."""
    if not has_outbox():
        async with make_harness(metrics_token=TOKEN) as harness:
            assert "smartdoor_mail_outbox_pending" not in await scrape(harness)
        return
    with socket.socket() as closed:  # a port nobody listens on: the relay is down
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    async with make_harness(metrics_token=TOKEN, mail_port=dead_port) as harness:
        assert samples(await scrape(harness))[("smartdoor_mail_outbox_pending", ())] == 0
        door = await harness.add_door()
        assert (await door.request_code()).json()["status"] == "partial_success"
        assert samples(await scrape(harness))[("smartdoor_mail_outbox_pending", ())] == 1
