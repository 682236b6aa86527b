# The narrow RFC 9421 (HTTP Message Signatures, hmac-sha256) + RFC 9530 (Content-Digest)
# subset of Smart Door's device protocol that both ends share: the signature base, the
# components of the two messages, HMAC, and the door's part (sign a request, verify a
# reply). The backend's part (parse any request's signature, sign a reply) is
# doorlogic.httpsig_server, built on these same functions, so both ends build the very same
# signature base; the door never loads it, which keeps its heap small.
# Only hashlib.sha256 and binascii are needed; HMAC is written out because MicroPython
# has no hmac module (the backend's half switches to CPython's C hmac for its own use).
import binascii
import hashlib

from doorlogic import const

LABEL = "sig1"
ALG = "hmac-sha256"
_MAX_FIELD = const(1024)  # longest Signature / Signature-Input value either end will parse
# what a reply's signature covers: its status, its body, and the request it answers
_REPLY_IDS = const('"@status" "content-digest" "signature";req;key="sig1"')


class SignatureError(ValueError):
    pass


def b64encode(data):
    return binascii.b2a_base64(data).decode().strip()


def hmac_sha256(key, msg):
    # RFC 2104 written out, for MicroPython
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
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


def signature_base(components, params):
    """components: [(component identifier as serialized, value)]; params: the
    Signature-Input member value; RFC 9421 §2.5."""
    lines = []
    for ident, value in components:
        if "\n" in value or "\r" in value:
            raise SignatureError("newline in component")
        lines.append(ident + ": " + value)
    lines.append('"@signature-params": ' + params)
    return "\n".join(lines).encode()


def member(field, label=LABEL):
    """The value of label=... in a Dictionary field restricted to what we emit: members
    split by ","."""
    if field is None or len(field) > _MAX_FIELD:
        raise SignatureError("missing or oversized signature field")
    for m in field.split(","):
        m = m.strip()
        if m.startswith(label + "="):
            return m[len(label) + 1 :]
    raise SignatureError("no " + label + " signature")


# --- the two messages of the Smart Door protocol ---------------------------------------


def request_components(method, path, digest):
    comps = [('"@method"', method.upper()), ('"@path"', path)]
    if digest is not None:
        comps.append(('"content-digest"', digest))
    return comps


def reply_components(status, digest, request_signature):
    """request_signature: the sig1 member value of the request's Signature."""
    ids = _REPLY_IDS.split(" ")
    return [(ids[0], str(status)), (ids[1], digest), (ids[2], request_signature)]


def reply_params(keyid, created):
    """The Signature-Input member value of a reply: the backend signs exactly this."""
    return serialize_params(_REPLY_IDS.split(" "), [("created", created), ("keyid", keyid), ("alg", ALG)])


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
    headers["Signature-Input"] = LABEL + "=" + params
    headers["Signature"] = LABEL + "=:" + b64encode(hmac_sha256(key, signature_base(comps, params))) + ":"
    return headers


def reply_created(keyid, field):
    """The created time of a reply's Signature-Input field, which must be exactly what the
    backend writes for this door (reply_params); raises SignatureError otherwise."""
    raw = member(field)
    head = serialize_params(_REPLY_IDS.split(" "), ()) + ";created="
    digits = raw[len(head) :].split(";", 1)[0]
    if not raw.startswith(head) or not 0 < len(digits) < 16 or digits.strip("0123456789"):
        raise SignatureError("unexpected reply signature parameters")
    created = int(digits)
    if raw != reply_params(keyid, created):
        raise SignatureError("unexpected reply signature parameters")
    return created


def verify_reply(key, keyid, status, headers, body, request_signature):
    """True only for a reply signed with key over exactly this status and body, bound to
    the request we sent (request_signature: its Signature field). headers: a dict with
    lower-case names."""
    try:
        digest = headers.get("content-digest")
        if digest is None or not equal(digest.encode(), content_digest(body).encode()):
            return False
        params = reply_params(keyid, reply_created(keyid, headers.get("signature-input")))
        comps = reply_components(status, digest, member(request_signature))
        mac = ":" + b64encode(hmac_sha256(key, signature_base(comps, params))) + ":"
        return equal(member(headers.get("signature")).encode(), mac.encode())
    except (SignatureError, ValueError, TypeError, AttributeError):
        return False
