# The narrow RFC 9421 (HTTP Message Signatures, hmac-sha256) + RFC 9530 (Content-Digest)
# subset of Smart Door's device protocol. One file, run unchanged by the backend (CPython)
# and the firmware (MicroPython), so both ends build the very same signature base.
# Only hashlib.sha256 and binascii are needed; HMAC is written out because MicroPython
# has no hmac module.
import binascii
import hashlib

try:  # CPython: use the C implementations; MicroPython has no hmac module
    import hmac as _hmac
except ImportError:
    _hmac = None
if _hmac is not None and not hasattr(_hmac, "compare_digest"):
    _hmac = None  # micropython-lib's hmac lacks compare_digest: use the portable code

LABEL = "sig1"
ALG = "hmac-sha256"
_BLOCK = 64
_MAX_FIELD = 1024  # longest Signature / Signature-Input value we will parse


class SignatureError(ValueError):
    pass


def b64encode(data):
    return binascii.b2a_base64(data).decode().strip()


def b64decode(text):
    try:  # bytes: some MicroPython builds' binascii refuses str
        return binascii.a2b_base64(text.encode() if isinstance(text, str) else text)
    except Exception:
        raise SignatureError("bad base64")


def hmac_sha256(key, msg):
    if _hmac is not None:
        return _hmac.new(key, msg, hashlib.sha256).digest()
    return hmac_sha256_portable(key, msg)


def hmac_sha256_portable(key, msg):
    # RFC 2104 written out, for MicroPython
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    if _hmac is not None:
        return _hmac.compare_digest(a, b)
    # constant time for equal lengths; lengths are public (always 32 for our MACs)
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def content_digest(body):
    return "sha-256=:" + b64encode(hashlib.sha256(body).digest()) + ":"


def serialize_params(component_ids, params):
    """Signature-Input member value: ("a" "b");created=1;keyid="x" (params: list of pairs)."""
    out = "(" + " ".join(component_ids) + ")"
    for name, value in params:
        if isinstance(value, int):
            out += ";" + name + "=" + str(value)
        else:
            out += ";" + name + '="' + value + '"'
    return out


def signature_base(components, signature_params):
    """components: [(component identifier as serialized, value)]; RFC 9421 §2.5."""
    lines = []
    for ident, value in components:
        if "\n" in value or "\r" in value:
            raise SignatureError("newline in component")
        lines.append(ident + ": " + value)
    lines.append('"@signature-params": ' + signature_params)
    return "\n".join(lines).encode()


def _member(field, label):
    # a Dictionary field restricted to what we emit: label=value, members split by ","
    if field is None or len(field) > _MAX_FIELD:
        raise SignatureError("missing or oversized signature field")
    for member in field.split(","):
        member = member.strip()
        if member.startswith(label + "="):
            return member[len(label) + 1 :]
    raise SignatureError("no " + label + " signature")


def parse_signature(field, label=LABEL):
    value = _member(field, label)
    if len(value) < 2 or value[0] != ":" or value[-1] != ":":
        raise SignatureError("signature is not a byte sequence")
    return b64decode(value[1:-1])


def parse_signature_input(field, label=LABEL):
    """-> (component ids as written, {param: int|str}, the raw member value)."""
    raw = _member(field, label)
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


# --- the two messages of the Smart Door protocol ---------------------------------------


def request_components(method, path, digest):
    comps = [('"@method"', method.upper()), ('"@path"', path)]
    if digest is not None:
        comps.append(('"content-digest"', digest))
    return comps


def reply_components(status, digest, request_signature_value):
    return [
        ('"@status"', str(status)),
        ('"content-digest"', digest),
        ('"signature";req;key="' + LABEL + '"', request_signature_value),
    ]


def sign_request(key, keyid, method, path, body, created, nonce):
    """Headers that sign a device request. body: bytes or None (no body)."""
    headers = {}
    digest = None
    if body:
        digest = content_digest(body)
        headers["Content-Digest"] = digest
    comps = request_components(method, path, digest)
    params = serialize_params(
        [c[0] for c in comps], [("created", created), ("nonce", nonce), ("keyid", keyid), ("alg", ALG)]
    )
    mac = hmac_sha256(key, signature_base(comps, params))
    headers["Signature-Input"] = LABEL + "=" + params
    headers["Signature"] = LABEL + "=:" + b64encode(mac) + ":"
    return headers


def sign_reply(key, keyid, status, body, request_signature_field, created):
    """Headers that sign the backend's reply, bound to the request's sig1 signature."""
    digest = content_digest(body)
    comps = reply_components(status, digest, _member(request_signature_field, LABEL))
    params = serialize_params([c[0] for c in comps], [("created", created), ("keyid", keyid), ("alg", ALG)])
    mac = hmac_sha256(key, signature_base(comps, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": LABEL + "=" + params,
        "Signature": LABEL + "=:" + b64encode(mac) + ":",
    }


def verify_reply(key, keyid, status, headers, body, request_signature_field):
    """True only for a reply signed with key over exactly this status and body, bound to
    the request we sent. headers: a dict with lower-case names."""
    try:
        digest = headers.get("content-digest")
        if digest is None or not equal(digest.encode(), content_digest(body).encode()):
            return False
        ids, params, raw = parse_signature_input(headers.get("signature-input"))
        comps = reply_components(status, digest, _member(request_signature_field, LABEL))
        if ids != [c[0] for c in comps]:
            return False
        if params.get("keyid") != keyid or params.get("alg") != ALG:
            return False
        mac = parse_signature(headers.get("signature"))
        return equal(mac, hmac_sha256(key, signature_base(comps, raw)))
    except (SignatureError, ValueError, TypeError, AttributeError):
        return False
