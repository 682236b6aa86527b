# The backend's half of doorlogic.httpsig: parse a request's Signature-Input and Signature
# (RFC 8941 strings and integers, strict limits) and sign a reply, on httpsig's signature
# base, so both ends build the very same bytes; HMAC and the comparison of MACs from
# CPython's C hmac where there is one. The door never loads this module (the firmware build
# leaves it out); it runs on MicroPython too, so the tests' fake backend can use it there.
import binascii
import hashlib

from doorlogic import httpsig
from doorlogic.httpsig import LABEL, SignatureError, b64encode, content_digest, member, reply_components, reply_params

try:
    import hmac as _hmac
except ImportError:
    _hmac = None
if not hasattr(_hmac, "compare_digest"):
    _hmac = None  # none on MicroPython, and micropython-lib's lacks compare_digest


def hmac_sha256(key, msg):
    if _hmac is None:
        return httpsig.hmac_sha256(key, msg)
    return _hmac.new(key, msg, hashlib.sha256).digest()


def equal(a, b):
    """Constant-time comparison of two MACs."""
    if _hmac is None:
        return httpsig.equal(a, b)
    return _hmac.compare_digest(a, b)


def b64decode(text):
    try:  # bytes: some MicroPython builds' binascii refuses str
        return binascii.a2b_base64(text.encode() if isinstance(text, str) else text)
    except Exception:
        raise SignatureError("bad base64")


def parse_signature(field, label=LABEL):
    value = member(field, label)
    if len(value) < 2 or value[0] != ":" or value[-1] != ":":
        raise SignatureError("signature is not a byte sequence")
    return b64decode(value[1:-1])


def parse_signature_input(field, label=LABEL):
    """-> (component ids as written, {param: int|str}, the raw member value)."""
    raw = member(field, label)
    if not raw.startswith("(") or ")" not in raw:
        raise SignatureError("signature input is not an inner list")
    close = raw.index(")")
    inner = raw[1:close].strip()
    ids = inner.split(" ") if inner else []
    for ident in ids:
        if len(ident) < 2 or ident[0] != '"' or '"' not in ident[1:]:
            raise SignatureError("bad component identifier")
    params = {}
    rest = raw[close + 1 :]
    if rest:
        if rest[0] != ";":
            raise SignatureError("bad signature parameters")
        for item in rest[1:].split(";"):
            name, sep, value = item.partition("=")
            if not sep or not name or name in params:
                raise SignatureError("bad signature parameter")
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
                if '"' in value or "\\" in value:
                    raise SignatureError("bad signature parameter")
                params[name] = value
            else:
                # an RFC 8941 Integer: "-"? and 1 to 15 digits, so any clock can do sums with it
                digits = value[1:] if value[:1] == "-" else value
                if not 0 < len(digits) < 16 or digits.strip("0123456789"):
                    raise SignatureError("bad signature parameter")
                params[name] = int(value)
    return ids, params, raw


def sign_reply(key, keyid, status, body, request_signature_field, created):
    """Headers that sign the backend's reply, bound to the request's sig1 signature."""
    digest = content_digest(body)
    comps = reply_components(status, digest, member(request_signature_field))
    params = reply_params(keyid, created)
    mac = hmac_sha256(key, httpsig.signature_base(comps, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": LABEL + "=" + params,
        "Signature": LABEL + "=:" + b64encode(mac) + ":",
    }
