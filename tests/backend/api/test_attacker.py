"""What a host on the LAN can try: unsigned, forged, replayed, stale and malformed requests.
Each is refused with a 4xx JSON error, audited, and changes nothing else."""

from __future__ import annotations

import json
import secrets

import pytest

from doorlogic import httpsig

REQUEST = "/api/v1/otp/request"
VERIFY = "/api/v1/otp/verify"


async def counts(h) -> tuple[int, int, int]:
    return (
        await h.db.doors.count_documents({"pending": {"$ne": None}}),
        len(h.sink.messages()),
        await h.db.doors.count_documents({"state": {"$ne": None}}),
    )


async def unauthenticated_events(h) -> list[dict]:
    """The counted refusals, written now (they are written once a minute)."""
    await h.services.unauthenticated.flush(h.db, now=h.clock.now())
    return await h.audit(event="unauthenticated")


async def test_unsigned_request_refused_unsigned(harness):
    await harness.add_door()
    r = await harness.http.post(REQUEST, json={"action": "unlock"})
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    assert "signature" not in r.headers and "signature-input" not in r.headers
    assert await harness.audit() == []  # counted, not written one by one
    [event] = await unauthenticated_events(harness)
    assert event["reason"] == "bad_signature" and event["count"] == 1 and event["client"] == "192.0.2.7"
    assert await counts(harness) == (0, 0, 0)


async def test_wrong_key_unknown_door_and_tampering(harness):
    device = await harness.add_door()
    cases = {
        "wrong key": dict(key=secrets.token_bytes(32)),
        "unknown door": dict(keyid="dnosuchdoor"),
    }
    for name, options in cases.items():
        r = await device.request_code(check_reply=False, **options)
        assert r.status_code == 401, name
    assert (await device.request_code(check_reply=False, keyid="dnosuchdoor")).json()["error"] == "unknown_door"
    # body changed after signing (digest no longer matches)
    body = b'{"action":"unlock"}'
    headers = device.sign("POST", REQUEST, body)
    r = await device.post(REQUEST, raw=b'{"action":"lock"}', headers=headers, check_reply=False)
    assert r.status_code == 401
    # body and digest changed together: the signature covers the digest
    headers = device.sign("POST", REQUEST, body)
    headers["Content-Digest"] = httpsig.content_digest(b'{"action":"lock"}')
    r = await device.post(REQUEST, raw=b'{"action":"lock"}', headers=headers, check_reply=False)
    assert r.status_code == 401
    # signed for another path
    headers = device.sign("POST", "/api/v1/state", body)
    r = await device.post(REQUEST, raw=body, headers=headers, check_reply=False)
    assert r.status_code == 401
    assert await counts(harness) == (0, 0, 0)
    events = await unauthenticated_events(harness)
    assert sum(e["count"] for e in events) == 6
    assert {e["reason"] for e in events} == {"bad_signature", "unknown_door"}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: {**h, "Signature": "sig1=:not base64!:"},
        lambda h: {**h, "Signature": "sig2=" + h["Signature"][5:]},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace(' "content-digest"', "")},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace('alg="hmac-sha256"', 'alg="rsa-pss-sha512"')},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace(";created=", ";created=x")},
        lambda h: {**h, "Signature-Input": "sig1=(" + "a" * 5000},
        lambda h: {k: v for k, v in h.items() if k != "Signature-Input"},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace("nonce=", 'nonce="ab";x=')},
    ],
)
async def test_broken_signature_headers_give_401_json(harness, mangle):
    device = await harness.add_door()
    body = b'{"action":"unlock"}'
    r = await device.post(REQUEST, raw=body, headers=mangle(device.sign("POST", REQUEST, body)), check_reply=False)
    assert r.status_code == 401 and r.json()["status"] == "error"
    assert await counts(harness) == (0, 0, 0)


async def test_short_nonce_refused(harness):
    device = await harness.add_door()
    r = await device.request_code(check_reply=False, nonce="abc")
    assert r.status_code == 401


async def test_resent_request_gets_the_original_reply_and_nothing_twice(harness):
    device = await harness.add_door()
    body = b'{"action":"unlock"}'
    headers = device.sign("POST", REQUEST, body)
    first = await device.post(REQUEST, raw=body, headers=headers)
    assert first.status_code == 200
    again = await device.post(REQUEST, raw=body, headers=headers)  # a lost reply: the same bytes again
    assert again.status_code == 200 and again.json() == first.json()
    assert len(harness.sink.messages()) == 1  # one code, one mail
    assert len(await harness.audit(event="code_request")) == 1
    assert len(await harness.audit(event="resent")) == 1


async def test_a_nonce_on_another_request_is_a_replay(harness):
    device = await harness.add_door()
    nonce = secrets.token_hex(16)
    assert (await device.request_code(nonce=nonce)).status_code == 200
    r = await device.request_code("lock", nonce=nonce)  # same nonce, another body: signed by the door
    assert r.status_code == 401 and r.json()["error"] == "replayed_request"
    assert len(harness.sink.messages()) == 1
    assert len(await harness.audit(event="replay")) == 1


async def test_resent_wrong_verify_is_not_counted_twice(harness):
    device = await harness.add_door()
    cid = (await device.request_code()).json()["challenge_id"]
    wrong = "000000" if harness.latest_code(1) != "000000" else "111111"
    body = json.dumps({"challenge_id": cid, "code": wrong}).encode()
    headers = device.sign("POST", VERIFY, body)
    assert (await device.post(VERIFY, raw=body, headers=headers)).json()["attempts_left"] == 4
    r = await device.post(VERIFY, raw=body, headers=headers)
    assert r.status_code == 403 and r.json()["attempts_left"] == 4  # the original outcome again
    door = await harness.db.doors.find_one({"_id": device.door_id})
    assert door["pending"]["attempts"] == 1 and door["failures"] == 1
    assert len(await harness.audit(event="wrong_code")) == 1


@pytest.mark.parametrize("skew, status", [(-301, 401), (301, 401), (-299, 200), (299, 200)])
async def test_clock_skew_window(harness, skew, status):
    device = await harness.add_door()
    created = int(harness.clock.now().timestamp()) + skew
    r = await device.request_code(created=created)  # signed either way: the door can trust the server time
    assert r.status_code == status
    if status == 401:
        assert r.json()["error"] == "stale_request"
        assert r.json()["server_time"] == int(harness.clock.now().timestamp())
        assert await counts(harness) == (0, 0, 0)


@pytest.mark.parametrize(
    "path, body, status, error",
    [
        (REQUEST, b"{not json", 400, "bad_request"),
        (REQUEST, b'{"action": "open"}', 422, "invalid_input"),
        (REQUEST, b'{"action": 1}', 422, "invalid_input"),
        (REQUEST, b'{"action": "unlock", "extra": 1}', 422, "invalid_input"),
        (REQUEST, b'["unlock"]', 422, "invalid_input"),
        (REQUEST, b"\xff\xfe", 400, "bad_request"),
        (VERIFY, b'{"challenge_id": "abcdefghij", "code": "12a456"}', 422, "invalid_input"),
        (VERIFY, b'{"challenge_id": "abcdefghij", "code": "12345"}', 422, "invalid_input"),
        (VERIFY, b'{"challenge_id": "abcdefghij", "code": "1234567"}', 422, "invalid_input"),
        (VERIFY, b'{"challenge_id": "abcdefghij", "code": 123456}', 422, "invalid_input"),
        (
            VERIFY,
            b'{"challenge_id": "abcdefghij", "code": "\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6"}',
            422,
            "invalid_input",
        ),
        (VERIFY, b'{"challenge_id": "../../etc", "code": "123456"}', 422, "invalid_input"),
        (VERIFY, b'{"challenge_id": "abcdefghijk", "code": "123456"}', 404, "unknown_challenge"),
        ("/api/v1/state", b'{"state": "open"}', 422, "invalid_input"),
        ("/api/v1/state", b'{"state": "locked", "rssi": "x"}', 422, "invalid_input"),
    ],
)
async def test_bad_input_is_a_signed_4xx_and_changes_nothing(harness, path, body, status, error):
    device = await harness.add_door()
    r = await device.post(path, raw=body)  # reply signature checked by post()
    assert r.status_code == status and r.json()["error"] == error, r.text
    assert await counts(harness) == (0, 0, 0)
    assert len(await harness.audit()) == 1  # only the audit entry


async def test_body_over_16_kib(harness):
    device = await harness.add_door()
    body = b'{"action":"unlock","pad":"' + b"x" * 17000 + b'"}'
    r = await device.post(REQUEST, raw=body, check_reply=False)
    assert r.status_code == 413 and r.json()["error"] == "too_large"

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"x" * 1024

    r = await harness.http.post(REQUEST, content=chunks())
    assert r.status_code == 413
    assert await counts(harness) == (0, 0, 0)


async def test_unknown_route_and_method_are_json(harness):
    r = await harness.http.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["status"] == "error"
    r = await harness.http.get(REQUEST)
    assert r.status_code == 405 and r.json()["status"] == "error"


async def test_verify_of_another_doors_challenge_is_unknown(harness):
    front = await harness.add_door("Front")
    back = await harness.add_door("Back")
    cid = (await front.request_code()).json()["challenge_id"]
    r = await back.verify(cid, harness.latest_code(1))
    assert r.status_code == 404 and r.json()["error"] == "unknown_challenge"


async def test_door_sealed_under_another_secret_key_is_401_not_500(harness):
    from bson.binary import Binary

    from smartdoor.crypto import Keyring

    device = await harness.add_door()
    resealed = Keyring(b"another-server-key-" * 3).seal(device.door_id, device.key)
    await harness.db.doors.update_one({"_id": device.door_id}, {"$set": {"sealed_secret": Binary(resealed)}})
    r = await device.request_code(check_reply=False)
    assert r.status_code == 401 and r.json()["error"] == "unknown_door"
