# TOTP (RFC 6238 SHA-1 test vectors), the offline vault and the flash store, as plain
# asserts: pytest runs this file on CPython and micropython_runner.mjs on real MicroPython.
import json
import os
import sys

import doorlogic
from doorlogic import httpsig, offline, sha1, totp
from doorlogic.offline import Store

RFC_KEY = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1 seed
RFC_VECTORS = (
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
)


def test_rfc6238_sha1_vectors():
    for t, code in RFC_VECTORS:
        assert totp.hotp(RFC_KEY, totp.step_of(t), 8) == code, (t, code)


def test_rfc4226_hotp_vectors():
    # RFC 4226 appendix D: same key, counters 0..9, 6 digits
    expected = ("755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489")
    for counter, code in enumerate(expected):
        assert totp.hotp(RFC_KEY, counter) == code


def test_pure_sha1_known_answers():
    assert sha1.sha1(b"abc") == bytes.fromhex("a9993e364706816aba3e25717850c26c9cd0d89d")
    assert sha1.sha1(b"") == bytes.fromhex("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert sha1.sha1(long) == bytes.fromhex("84983e441c3bd26ebaae4aa1f95129e5e54670f1")


def test_match_window_is_plus_minus_one_step():
    t = 1760000000
    now = totp.step_of(t)
    for delta, ok in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        code = totp.hotp(RFC_KEY, now + delta)
        assert (totp.match(RFC_KEY, code, t) is not None) == ok, delta
    assert totp.match(RFC_KEY, totp.hotp(RFC_KEY, now), t) == now
    assert totp.match(RFC_KEY, "12345", t) is None


class Mem:
    def __init__(self, data=None):
        self.text = json.dumps(data or {})

    def load(self):
        return json.loads(self.text)

    def save(self, data):
        self.text = json.dumps(data)


def _vault_with(secret=RFC_KEY, **cred):
    v = offline.Vault(Mem())
    v.creds = [["c1", "Phone", "".join("%02x" % b for b in secret), cred.get("vf"), cred.get("vu")]]
    v.version = 1
    return v


def test_vault_each_step_opens_once_and_respects_validity():
    t = 1760000000
    v = _vault_with()
    code = totp.hotp(RFC_KEY, totp.step_of(t))
    assert v.check(code, t) == "c1"
    assert v.check(code, t) is None and v.fails == 1
    assert v.uses == [{"credential": "c1", "step": totp.step_of(t), "at": t, "action": "unlock"}]
    late = _vault_with(vu=t - 1)
    assert late.check(code, t) is None
    early = _vault_with(vf=t + 1)
    assert early.check(code, t) is None


def test_vault_waits_escalate_and_are_capped():
    waits = [offline.wait_for(n) for n in range(0, 40, 3)]
    assert waits[:5] == [0, 30, 60, 120, 240]
    assert max(waits) == 3600 and offline.wait_for(1000) == 3600


def test_vault_survives_a_reset_and_uploads_once():
    store = Mem()
    v = offline.Vault(store)
    v.creds = [["c1", "Phone", "3132333435363738393031323334353637383930", None, None]]
    v.version = 3
    t = 1760000000
    assert v.check("000000", t) is None
    assert v.check(totp.hotp(RFC_KEY, totp.step_of(t)), t) == "c1"
    v2 = offline.Vault(store)  # after a reset
    assert v2.version == 3 and v2.fails == 0 and v2.wrong == 1 and len(v2.uses) == 1
    pairs = v2.pending()
    assert pairs[0][0] == "uses" and pairs[1] == ("wrong_codes", 1)
    v2.uploaded(pairs)
    assert v2.pending() is None and offline.Vault(store).pending() is None


def test_vault_install_decrypts_and_refuses_garbage():
    key = bytes(range(32))
    nonce = "ab" * 16
    pad = httpsig.hmac_sha256(key, b"smartdoor-offline-v1|" + nonce.encode() + b"|c9")
    enc = bytes(RFC_KEY[i] ^ pad[i] for i in range(20))
    v = offline.Vault(Mem())
    block = {"version": 7, "nonce": nonce, "credentials": [{"id": "c9", "label": "Ann", "secret": enc.hex()}]}
    v.install(key, block)
    assert v.version == 7 and v.creds[0][:2] == ["c9", "Ann"]
    assert bytes.fromhex(v.creds[0][2]) == RFC_KEY
    for bad in (
        {"version": 8},
        {"version": "8", "nonce": nonce, "credentials": []},
        {"version": 8, "nonce": "x", "credentials": []},
    ):
        try:
            v.install(key, bad)
            raise AssertionError("accepted " + repr(bad))
        except (KeyError, ValueError, TypeError):
            pass
    assert v.version == 7
    v.install(key, {"version": 9, "nonce": nonce, "credentials": []})  # revoked: none left
    assert v.version == 9 and v.creds == []


def test_vault_unloads_the_code_checking_module_after_each_call():
    # on the board it is loaded from flash for the call, and its RAM goes back to the heap
    doorlogic.forget("doorlogic.totp")  # another test module may have imported it
    v = offline.Vault(Mem())
    v.install(bytes(32), {"version": 1, "nonce": "ab" * 16, "credentials": []})
    assert "doorlogic.totp" not in sys.modules
    assert v.check("123456", 1111111109) is None and v.fails == 1
    assert "doorlogic.totp" not in sys.modules
    try:
        v.install(bytes(32), {"version": 2})
        raise AssertionError("accepted a block without nonce")
    except KeyError:
        pass
    assert "doorlogic.totp" not in sys.modules and v.version == 1


def _tmpdir():
    for d in ("/tmp", "."):
        try:
            os.stat(d)
            return d
        except OSError:
            pass
    return "."


def test_store_is_atomic_and_reads_back():
    path = _tmpdir() + "/door-store-test.json"
    s = Store(path)
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    assert s.load() == {}
    s.save({"door": "locked", "n": 1})
    s.save({"door": "unlocked", "n": 2})
    assert Store(path).load() == {"door": "unlocked", "n": 2}
    # a reset between writing the temporary file and the rename: the old one is still read
    with open(path + ".tmp", "w") as f:
        f.write('{"door": "loc')
    assert Store(path).load() == {"door": "unlocked", "n": 2}
    # the main file lost (a FAT rename that removed it first): the finished temp is read
    os.remove(path)
    with open(path + ".tmp", "w") as f:
        f.write('{"door": "locked"}')
    assert Store(path).load() == {"door": "locked"}
    os.remove(path + ".tmp")
