# DoorClient's Exchange rules against a fake backend that checks request signatures and
# signs its replies (doorlogic.httpsig_server.sign_reply), so every reply here is genuinely
# signed or genuinely not.
import json

import pytest
from test_statemachine_mp import BASE, DOOR, EPOCH, KEY, Counter, FakeServer

from doorlogic import httpsig, httpsig_server
from doorlogic.client import DoorClient, compact_json, run
from doorlogic.clock import Clock
from doorlogic.totp import decrypt


class Api:
    """The calls the state machine makes, run synchronously through the Exchange rules.
    transport: (method, url, headers, body) -> reply, replaceable by a test."""

    def __init__(self, server, wall, base=BASE):
        self.transport = server
        self.clock = Clock(lambda: wall[0])
        self.clock.set_epoch(EPOCH, "ntp")
        self.c = DoorClient(base, DOOR, KEY, self.clock, Counter())
        self.ms = 0
        self.slept = []
        self.sent = []  # (headers, body) of every send

    def _sleep(self, ms):
        self.slept.append(ms)
        self.ms += ms

    def call(self, kind, pairs, deadline_ms=8000):
        def send(m, u, h, b, timeout_ms):
            self.sent.append((dict(h), b))
            return self.transport(m, u, h, b)

        return run(self.c.exchange(kind, pairs, self.ms, deadline_ms), send, lambda: self.ms, self._sleep)

    def request_code(self, action):
        return self.call("request", [("action", action)], 15000)

    def verify(self, challenge_id, code):
        return self.call("verify", [("challenge_id", challenge_id), ("code", code)])

    def report_state(self, state, extra=()):
        return self.call("state", [("state", state), *extra])


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
    return Api(server, wall)


def test_compact_json_is_byte_exact():
    assert compact_json([("challenge_id", "c1"), ("code", "012345")]) == b'{"challenge_id":"c1","code":"012345"}'
    assert compact_json([("state", "locked"), ("rssi", -60)]) == b'{"state":"locked","rssi":-60}'


def test_an_unset_clock_is_set_by_the_signed_stale_reply(server, wall):
    wall[0] = 5  # the RTC is unset and there was no NTP
    api = Api(server, wall)
    api.clock.source = None
    api.clock.offset = 0
    r = api.request_code("unlock")
    assert r.kind == "ok"
    assert server.paths() == [REQ, REQ]  # no GET /api/v1/time: its time is not signed
    assert api.clock.now() == EPOCH and api.clock.source == "server"


def test_signed_reply_created_sets_an_unsynced_clock(server, wall):
    api = Api(server, wall)
    api.clock.source = None
    server.now = EPOCH + 100  # within the skew window: no stale reply, just a signed time
    assert api.request_code("lock").kind == "ok"
    assert api.clock.now() == EPOCH + 100


def test_ntp_time_is_kept_over_a_signed_created(server, wall):
    api = Api(server, wall)
    server.now = EPOCH + 100
    assert api.request_code("lock").kind == "ok"
    assert api.clock.now() == EPOCH and api.clock.source == "ntp"


def test_request_ok_signed_as_specified(client, server):
    seen = {}

    def spy(method, url, headers, body):
        seen.update(method=method, url=url, headers=dict(headers), body=body)
        return server(method, url, headers, body)

    client.transport = spy
    r = client.request_code("lock")
    assert r.kind == "ok" and r.status == 200
    assert r.data["challenge_id"] == "ch1" and r.data["digits"] == 6
    assert seen["url"] == BASE + REQ
    assert seen["body"] == b'{"action":"lock"}'
    h = seen["headers"]
    assert h["Content-Type"] == "application/json"
    assert h["Content-Digest"] == httpsig.content_digest(b'{"action":"lock"}')
    ids, params, _raw = httpsig_server.parse_signature_input(h["Signature-Input"])
    assert ids == ['"@method"', '"@path"', '"content-digest"']
    assert params["keyid"] == DOOR and params["alg"] == "hmac-sha256"
    assert params["created"] == EPOCH
    assert len(params["nonce"]) == 32 and int(params["nonce"], 16) >= 0
    assert server.rejected == []


def test_nonces_differ(client, server):
    client.request_code("lock")
    client.request_code("lock")
    assert len(server.nonces) == 2


def test_base_url_path_prefix_is_signed(server, wall):
    c = Api(server, wall, BASE + "/door/")
    c.transport = lambda m, u, h, b: server(m, u.replace("/door", ""), dict(h, **{"X-Path": u}), b)
    r = c.request_code("lock")
    # the fake server sees the path without the prefix, so the signature (over the
    # prefixed path) must not verify: proves the prefix is part of @path
    assert server.rejected == ["bad_signature"]
    assert r.kind == "bad_signature" and r.status == 401  # the 401 is unsigned (protocol 1.)


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

    client.transport = with_header
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
    r = client.report_state("jammed", [("rssi", -70), ("firmware", "1.0"), ("uptime", 9), ("event", "change")])
    assert r.kind == "ok" and r.data["server_time"] == EPOCH
    assert server.requests[-1][2] == {"state": "jammed", "rssi": -70, "firmware": "1.0", "uptime": 9, "event": "change"}


def test_report_state_to_an_older_backend_falls_back_to_v1_fields(client, server):
    server.queue(STATE, 422, err("invalid_input", "event: extra inputs are not permitted"))
    r = client.report_state("locked", [("firmware", "1.0"), ("heap", 5000), ("event", "boot")])
    assert r.kind == "ok"
    assert [b for _m, p, b in server.requests] == [
        {"state": "locked", "firmware": "1.0", "heap": 5000, "event": "boot"},
        {"state": "locked", "firmware": "1.0"},
    ]


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

    client.transport = record
    assert client.verify("ch1", "123456").kind == "ok"
    old = captured["reply"]
    client.transport = lambda m, u, h, b: old  # a machine in the middle replays it
    assert client.verify("ch1", "000000").kind == "bad_signature"


def test_unreachable(client, server):
    server.down = True
    r = client.request_code("lock")
    assert r.kind == "unreachable" and r.status == 0


def test_signed_reply_with_non_json_body_is_error(client, server):
    def t(s, h, b):
        b = b"<html>"
        signed = httpsig_server.sign_reply(KEY, DOOR, s, b, client_sig[0], EPOCH)
        return s, {k.lower(): v for k, v in signed.items()}, b

    client_sig = []
    real = server.__call__

    def grab(m, u, h, b):
        if "Signature" in h:
            client_sig[:] = [h["Signature"]]
        return real(m, u, h, b)

    server.tamper = t
    client.transport = grab
    assert client.request_code("lock").kind == "error"


def test_stale_request_resyncs_and_retries_once(client, server, wall):
    server.now = EPOCH + 1000  # the server's clock moved on; ours (even from NTP) did not
    r = client.request_code("lock")
    assert r.kind == "ok"
    assert server.paths() == [REQ, REQ]
    first, second = client.sent
    assert first[0]["Signature"] != second[0]["Signature"]  # freshly signed: new nonce, created
    assert httpsig_server.parse_signature_input(second[0]["Signature-Input"])[1]["created"] == EPOCH + 1000


def test_stale_twice_gives_up(client, server):
    server.queue(REQ, 401, err("stale_request", server_time=EPOCH))
    server.queue(REQ, 401, err("stale_request", server_time=EPOCH))
    r = client.request_code("lock")
    assert r.kind == "error" and r.error == "stale_request"
    assert len(client.sent) == 2


def test_lost_reply_resends_identical_bytes_once(client, server):
    server.lose[REQ] = 1
    r = client.request_code("unlock")
    assert r.kind == "ok" and r.data["challenge_id"] == "ch1"
    assert len(client.sent) == 2 and client.sent[0] == client.sent[1]  # same headers, same body
    assert server.n == 1  # handled once


def test_second_lost_reply_is_unreachable(client, server):
    server.lose[VER] = 5
    r = client.verify("ch1", "123456")
    assert r.kind == "unreachable" and len(client.sent) == 2


def test_in_progress_waits_retry_after_then_resends_identical(client, server):
    server.busy[REQ] = 3
    r = client.request_code("unlock")
    assert r.kind == "ok"
    assert client.slept == [1000, 1000, 1000]
    assert all(sent == client.sent[0] for sent in client.sent) and len(client.sent) == 4


def test_in_progress_stops_at_the_deadline(client, server):
    server.busy[VER] = 100
    r = client.verify("ch1", "123456")  # 8 s deadline
    assert r.kind == "error" and r.error == "in_progress"
    assert sum(client.slept) < 8000


def test_deadline_is_handed_to_the_transport(server, wall):
    api = Api(server, wall)
    seen = []
    ex = api.c.exchange("request", [("action", "lock")], 0, 15000)
    run(ex, lambda m, u, h, b, t: seen.append(t) or server(m, u, h, b), lambda: 2000, lambda ms: None)
    assert seen == [13000]


def test_offline_secret_decrypts_as_the_protocol_says(server):
    server.offer_offline({"a1": b"12345678901234567890"})
    c = server.offline["credentials"][0]
    assert decrypt(KEY, server.offline["nonce"], "a1", c["secret"]) == b"12345678901234567890"
    assert decrypt(bytes(32), server.offline["nonce"], "a1", c["secret"]) != b"12345678901234567890"


def test_json_bodies_parse_back(client, server):
    client.verify('ch"1', "12\\34")
    assert server.requests[-1][2] == {"challenge_id": 'ch"1', "code": "12\\34"}
    assert server.rejected == []
    assert json.loads(compact_json([("a", "é")])) == {"a": "é"}
