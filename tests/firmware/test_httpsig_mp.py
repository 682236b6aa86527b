# doorlogic.httpsig against the RFC 9421 / RFC 9530 published vectors. Plain asserts and no
# pytest import: runs on CPython (pytest) and on MicroPython (micropython_runner.mjs).
import binascii

from doorlogic import httpsig, httpsig_server

# RFC 9421 Appendix B.1.5 shared secret ("test-shared-secret") and B.2.5 signature
RFC_KEY = binascii.a2b_base64(
    b"uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)
RFC_PARAMS = '("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
RFC_SIG = "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="

DOOR_KEY = bytes(range(32))
DOOR = "door-1"


def test_rfc9421_b25_hmac_sha256():
    base = httpsig.signature_base(
        [
            ('"date"', "Tue, 20 Apr 2021 02:07:55 GMT"),
            ('"@authority"', "example.com"),
            ('"content-type"', "application/json"),
        ],
        RFC_PARAMS,
    )
    assert base == (
        b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        b'"@authority": example.com\n'
        b'"content-type": application/json\n'
        b'"@signature-params": ' + RFC_PARAMS.encode()
    )
    assert httpsig.b64encode(httpsig.hmac_sha256(RFC_KEY, base)) == RFC_SIG


def test_portable_hmac_matches_vector():
    # httpsig's HMAC is written out (what the door runs); the backend's half uses CPython's
    # C hmac where there is one: both give the published answers
    base = httpsig.signature_base(
        [
            ('"date"', "Tue, 20 Apr 2021 02:07:55 GMT"),
            ('"@authority"', "example.com"),
            ('"content-type"', "application/json"),
        ],
        RFC_PARAMS,
    )
    for f in (httpsig.hmac_sha256, httpsig_server.hmac_sha256):
        assert httpsig.b64encode(f(RFC_KEY, base)) == RFC_SIG
        # RFC 4231 test case 2: a key shorter than the block; case 6: longer than the block
        mac = f(b"Jefe", b"what do ya want for nothing?")
        assert binascii.hexlify(mac) == b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        mac = f(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
        assert binascii.hexlify(mac) == b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    for eq in (httpsig.equal, httpsig_server.equal):
        assert eq(b"abc", b"abc") and not eq(b"abc", b"abd") and not eq(b"abc", b"ab")


def test_rfc9530_content_digest():
    assert httpsig.content_digest(b'{"hello": "world"}') == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


def _exchange(body=b'{"action":"unlock"}', reply_body=b'{"status":"success"}', status=200):
    req = httpsig.sign_request(
        DOOR_KEY, DOOR, "post", "/api/v1/otp/request", body, 1700000000, "0123456789abcdef0123456789abcdef"
    )
    rep = httpsig_server.sign_reply(DOOR_KEY, DOOR, status, reply_body, req["Signature"], 1700000001)
    headers = {}
    for k in rep:
        headers[k.lower()] = rep[k]
    return req, headers


def test_request_headers_shape():
    req, _ = _exchange()
    assert req["Content-Digest"].startswith("sha-256=:")
    assert req["Signature-Input"].startswith('sig1=("@method" "@path" "content-digest");created=1700000000;nonce="')
    assert req["Signature-Input"].endswith(';keyid="door-1";alg="hmac-sha256"')
    assert req["Signature"].startswith("sig1=:") and req["Signature"].endswith(":")
    no_body = httpsig.sign_request(DOOR_KEY, DOOR, "GET", "/x", None, 1, "n" * 32)
    assert "Content-Digest" not in no_body
    assert no_body["Signature-Input"].startswith('sig1=("@method" "@path");')


def test_reply_round_trip():
    req, headers = _exchange()
    assert httpsig.verify_reply(DOOR_KEY, DOOR, 200, headers, b'{"status":"success"}', req["Signature"]) is True


def test_reply_tampering_rejected():
    req, headers = _exchange()
    body = b'{"status":"success"}'
    assert not httpsig.verify_reply(DOOR_KEY, DOOR, 200, headers, b'{"status":"failure"}', req["Signature"])
    assert not httpsig.verify_reply(DOOR_KEY, DOOR, 201, headers, body, req["Signature"])
    assert not httpsig.verify_reply(bytes(32), DOOR, 200, headers, body, req["Signature"])
    assert not httpsig.verify_reply(DOOR_KEY, "door-2", 200, headers, body, req["Signature"])
    other, _ = _exchange(body=b'{"action":"lock"}')
    assert not httpsig.verify_reply(DOOR_KEY, DOOR, 200, headers, body, other["Signature"])
    broken = dict(headers)
    broken["signature"] = "sig1=:AAAA:"
    assert not httpsig.verify_reply(DOOR_KEY, DOOR, 200, broken, body, req["Signature"])
    missing = dict(headers)
    del missing["signature-input"]
    assert not httpsig.verify_reply(DOOR_KEY, DOOR, 200, missing, body, req["Signature"])


def test_integer_parameters_are_rfc8941_integers():
    # at most 15 digits: a 400-digit created once overflowed the server's float arithmetic
    for bad in ("1" * 16, "1" * 400, "-" + "1" * 16, "+1", "1_0", " 1", "", "-", "0x1", "1.5", "1e3"):
        try:
            httpsig_server.parse_signature_input('sig1=("@method");created=' + bad)
        except httpsig.SignatureError:
            continue
        raise AssertionError("accepted created=" + bad)
    _, params, _ = httpsig_server.parse_signature_input('sig1=("@method");created=999999999999999;x=-5;y=0')
    assert params["created"] == 999999999999999 and params["x"] == -5 and params["y"] == 0
