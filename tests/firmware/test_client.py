# DoorClient against a fake backend that checks request signatures and signs its replies
# (doorlogic.httpsig.sign_reply), so every reply here is genuinely signed or genuinely not.
import json

import pytest
from test_statemachine_mp import BASE, DOOR, EPOCH, KEY, Counter, FakeServer

from doorlogic import httpsig
from doorlogic.client import DoorClient, compact_json
from doorlogic.clock import Clock

REQ = "/api/v1/otp/request"
VER = "/api/v1/otp/verify"
STATE = "/api/v1/state"


def err(code, msg="x", **extra):
    body = {"status": "error", "error": code, "message": msg}
    body.update(extra)
    return body


@pytest.fixture
def server():
    return FakeServer()


@pytest.fixture
def wall():
    return [EPOCH]


@pytest.fixture
def client(server, wall):
    return DoorClient(BASE, DOOR, KEY, server, Clock(lambda: wall[0]), Counter())


def test_compact_json_is_byte_exact():
    assert compact_json([("challenge_id", "c1"), ("code", "012345")]) == b'{"challenge_id":"c1","code":"012345"}'
    assert compact_json([("state", "locked"), ("rssi", -60)]) == b'{"state":"locked","rssi":-60}'


def test_sync_time_sets_clock_from_unsigned_get(client, server, wall):
    wall[0] = 100  # the board's RTC is unset
    server.now = EPOCH + 7
    assert client.sync_time() is True
    assert client.clock.now() == EPOCH + 7
    assert server.requests[-1] == ("GET", "/api/v1/time", None)


def test_sync_time_unreachable(client, server):
    server.down = True
    assert client.sync_time() is False
    assert client.clock.synced is False


def test_first_signed_call_syncs_the_clock(server, wall):
    wall[0] = 5  # far off: without a sync the server would say stale_request
    c = DoorClient(BASE, DOOR, KEY, server, Clock(lambda: wall[0]), Counter())
    r = c.request_code("unlock")
    assert r.kind == "ok"
    assert [p for _m, p, _b in server.requests] == ["/api/v1/time", REQ]
    assert server.rejected == []


def test_request_ok_signed_as_specified(client, server):
    seen = {}

    def spy(method, url, headers, body):
        seen.update(method=method, url=url, headers=dict(headers), body=body)
        return server(method, url, headers, body)

    client._transport = spy
    r = client.request_code("lock")
    assert r.kind == "ok" and r.status == 200
    assert r.data["challenge_id"] == "ch1" and r.data["digits"] == 6
    assert seen["url"] == BASE + REQ
    assert seen["body"] == b'{"action":"lock"}'
    h = seen["headers"]
    assert h["Content-Type"] == "application/json"
    assert h["Content-Digest"] == httpsig.content_digest(b'{"action":"lock"}')
    ids, params, _raw = httpsig.parse_signature_input(h["Signature-Input"])
    assert ids == ['"@method"', '"@path"', '"content-digest"']
    assert params["keyid"] == DOOR and params["alg"] == "hmac-sha256"
    assert params["created"] == EPOCH
    assert len(params["nonce"]) == 32 and int(params["nonce"], 16) >= 0
    assert server.rejected == []


def test_nonces_differ(client, server):
    client.request_code("lock")
    client.request_code("lock")
    assert len(server.nonces) == 2 and server.nonces[0] != server.nonces[1]


def test_base_url_path_prefix_is_signed(server, wall):
    c = DoorClient(
        BASE + "/door/",
        DOOR,
        KEY,
        lambda m, u, h, b: server(m, u.replace("/door", ""), dict(h, **{"X-Path": u}), b),
        Clock(lambda: wall[0]),
        Counter(),
    )
    c.clock.set_epoch(EPOCH)
    r = c.request_code("lock")
    # the fake server sees the path without the prefix, so the signature (over the
    # prefixed path) must not verify: proves the prefix is part of @path
    assert server.rejected == ["bad_signature"]
    assert r.kind == "error" and r.status == 401


def test_partial_success(client, server):
    server.queue(
        REQ,
        200,
        {
            "status": "partial_success",
            "challenge_id": "c9",
            "expires_in": 120,
            "digits": 8,
            "recipients": 1,
            "reason": "smtp",
        },
    )
    r = client.request_code("unlock")
    assert r.kind == "partial" and r.data["digits"] == 8


@pytest.mark.parametrize(
    "reply",
    [
        {"status": "success", "expires_in": 120, "digits": 6, "recipients": 1},
        {"status": "success", "challenge_id": "c", "digits": 3, "recipients": 1},
        {"status": "success", "challenge_id": "c", "digits": "6", "recipients": 1},
        {"status": "weird", "challenge_id": "c", "digits": 6},
    ],
)
def test_request_malformed_success_is_error(client, server, reply):
    server.queue(REQ, 200, reply)
    assert client.request_code("unlock").kind == "error"


def test_bad_action_not_sent(client, server):
    assert client.request_code("open").kind == "error"
    assert server.requests == []


@pytest.mark.parametrize(
    "status,body,kind,attr,value",
    [
        (403, err("wrong_code", attempts_left=3), "wrong_code", "attempts_left", 3),
        (410, err("expired"), "expired", None, None),
        (410, err("used"), "expired", None, None),
        (410, err("superseded"), "expired", None, None),
        (410, err("burned"), "expired", None, None),
        (429, err("locked_out", retry_after=60), "locked_out", "retry_after", 60),
        (429, err("hard_lockout"), "locked_out", "error", "hard_lockout"),
        (429, err("rate_limited", retry_after=900), "rate_limited", "retry_after", 900),
        (404, err("unknown_challenge", "gone"), "error", "message", "gone"),
        (503, err("db_unavailable", retry_after=5), "error", "retry_after", 5),
        (422, err("invalid_input"), "error", "error", "invalid_input"),
        (400, err("bad_request"), "error", "status", 400),
    ],
)
def test_signed_error_kinds(client, server, status, body, kind, attr, value):
    server.queue(VER, status, body)
    r = client.verify("ch1", "123456")
    assert r.kind == kind
    if attr:
        assert getattr(r, attr) == value


def test_retry_after_header_when_body_has_none(client, server):
    server.queue(REQ, 429, err("rate_limited"))
    real = server.__call__

    def with_header(m, u, h, b):
        st, rh, body = real(m, u, h, b)
        rh["retry-after"] = "42"  # not covered by the signature; only a hint for display
        return st, rh, body

    client._transport = with_header
    r = client.request_code("lock")
    assert r.kind == "rate_limited" and r.retry_after == 42


def test_verify_ok(client, server):
    client.request_code("unlock")
    r = client.verify("ch1", "123456")
    assert r.kind == "ok" and r.data["action"] == "unlock"
    assert server.requests[-1][2] == {"challenge_id": "ch1", "code": "123456"}


def test_verify_success_without_action_is_error(client, server):
    server.queue(VER, 200, {"status": "success"})
    assert client.verify("c", "1").kind == "error"


def test_report_state(client, server):
    r = client.report_state("jammed", {"rssi": -70, "firmware": "1.0", "uptime": 9, "other": 1})
    assert r.kind == "ok"
    assert server.requests[-1][2] == {"state": "jammed", "rssi": -70, "firmware": "1.0", "uptime": 9}


@pytest.mark.parametrize(
    "attack", ["unsigned", "wrong_key", "unbound", "body", "status", "digest", "keyid", "sig_garbage"]
)
@pytest.mark.parametrize(
    "reply",
    [
        (200, {"status": "success", "action": "unlock"}),
        (403, err("wrong_code", attempts_left=4)),
        (429, err("locked_out", retry_after=30)),
    ],
)
def test_untrusted_replies_are_bad_signature(client, server, attack, reply):
    server.queue(VER, *reply)
    if attack == "unsigned":
        server.unsigned = True
    elif attack == "wrong_key":
        server.wrong_key = b"\x01" * 32
    elif attack == "unbound":
        server.unbound = True  # a genuine reply, but to some other request
    elif attack == "body":
        server.tamper = lambda s, h, b: (s, h, b.replace(b"}", b', "x": 1}'))
    elif attack == "status":
        server.tamper = lambda s, h, b: (200 if s != 200 else 403, h, b)
    elif attack == "digest":

        def t(s, h, b):
            b = b'{"status":"success","action":"unlock"}'
            h["content-digest"] = httpsig.content_digest(b)
            return s, h, b

        server.tamper = t
    elif attack == "keyid":
        server.door = "other-door"
    elif attack == "sig_garbage":
        server.tamper = lambda s, h, b: (s, dict(h, signature="sig1=:!!:"), b)
    r = client.verify("ch1", "123456")
    assert r.kind == "bad_signature"
    assert r.data == {}


def test_replayed_old_success_is_rejected(client, server):
    client.request_code("unlock")
    captured = {}
    real = server.__call__

    def record(m, u, h, b):
        out = real(m, u, h, b)
        captured["reply"] = out
        return out

    client._transport = record
    assert client.verify("ch1", "123456").kind == "ok"
    old = captured["reply"]
    client._transport = lambda m, u, h, b: old  # a machine in the middle replays it
    assert client.verify("ch1", "000000").kind == "bad_signature"


def test_unreachable(client, server):
    server.down = True
    r = client.request_code("lock")
    assert r.kind == "unreachable" and r.status == 0


def test_signed_reply_with_non_json_body_is_error(client, server):
    def t(s, h, b):
        b = b"<html>"
        signed = httpsig.sign_reply(KEY, DOOR, s, b, client_sig[0], EPOCH)
        return s, {k.lower(): v for k, v in signed.items()}, b

    client_sig = []
    real = server.__call__

    def grab(m, u, h, b):
        if "Signature" in h:
            client_sig[:] = [h["Signature"]]
        return real(m, u, h, b)

    server.tamper = t
    client._transport = grab
    assert client.request_code("lock").kind == "error"


def test_stale_request_resyncs_and_retries_once(client, server, wall):
    client.clock.set_epoch(EPOCH)
    server.now = EPOCH + 1000  # the server's clock moved on; ours did not
    r = client.request_code("lock")
    assert r.kind == "ok"
    assert server.rejected == ["stale_request"]
    assert [p for _m, p, _b in server.requests] == [REQ, "/api/v1/time", REQ]


def test_json_bodies_parse_back(client, server):
    client.verify('ch"1', "12\\34")
    assert server.requests[-1][2] == {"challenge_id": 'ch"1', "code": "12\\34"}
    assert server.rejected == []
    assert json.loads(compact_json([("a", "é")])) == {"a": "é"}
