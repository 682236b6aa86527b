# RFC 6238 TOTP (HMAC-SHA-1, RFC 4226 dynamic truncation), as authenticator apps make it:
# 6 digits, 30 s steps. Used by the door to check offline codes itself.
import hashlib

from doorlogic import const

_STEP_S = const(30)
_DIGITS = const(6)


def _sha1(data):
    if hasattr(hashlib, "sha1"):
        return hashlib.sha1(data).digest()
    from doorlogic.sha1 import sha1  # ports without hashlib.sha1

    return sha1(data)


def hmac_sha1(key, msg):
    if len(key) > 64:
        key = _sha1(key)
    key = key + bytes(64 - len(key))
    inner = _sha1(bytes(b ^ 0x36 for b in key) + msg)
    return _sha1(bytes(b ^ 0x5C for b in key) + inner)


def hotp(secret, counter, digits=_DIGITS):
    mac = hmac_sha1(secret, counter.to_bytes(8, "big"))
    o = mac[19] & 0x0F
    value = int.from_bytes(mac[o : o + 4], "big") & 0x7FFFFFFF
    s = str(value % 10**digits)
    return "0" * (digits - len(s)) + s


def step_of(epoch_s):
    return epoch_s // _STEP_S


def match(secret, code, epoch_s, window=1, digits=_DIGITS):
    """The time step (int) whose code equals code, within +-window steps of epoch_s; None
    when none does. Every candidate is computed (no early return on a match), so the time
    taken does not tell which step matched."""
    t = step_of(epoch_s)
    found = None
    for s in range(t - window, t + window + 1):
        if s >= 0 and _same(hotp(secret, s, digits), code) and found is None:
            found = s
    return found


def _same(a, b):
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0
