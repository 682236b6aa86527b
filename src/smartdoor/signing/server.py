"""Server side of the device protocol's signatures: check a request, sign a reply. The
signature base itself comes from doorlogic.httpsig, the firmware's own module, so both ends
build it with the same code; the parsers and the reply signer are its backend half,
doorlogic.httpsig_server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from doorlogic import httpsig, httpsig_server
from smartdoor.errors import NotAuthenticated

NONCE_RE = re.compile(r"^[A-Za-z0-9_\-=]{22,128}$")  # ≥16 random bytes as base64url or hex
KEYID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_CREATED = 2**40  # far beyond any clock; bounds the number before any arithmetic on it


@dataclass(frozen=True)
class SignedParams:
    keyid: str
    created: int
    nonce: str
    raw: str  # the Signature-Input member value, exactly as covered by the signature
    signature: bytes


def _refuse(message: str, reason: str = "bad_signature") -> NotAuthenticated:
    return NotAuthenticated(message, reason=reason)


def parse_request_signature(headers, *, has_body: bool) -> SignedParams:
    """Checks the shape of the signature headers; raises NotAuthenticated (no key needed)."""
    sig_input, sig = headers.get("signature-input"), headers.get("signature")
    if not sig_input or not sig:
        raise _refuse("request is not signed")
    try:
        ids, params, raw = httpsig_server.parse_signature_input(sig_input)
        signature = httpsig_server.parse_signature(sig)
    except httpsig.SignatureError as exc:
        raise _refuse(f"malformed signature headers: {exc}") from None
    expected = [c for c, _ in httpsig.request_components("GET", "/", "x" if has_body else None)]
    if ids != expected:
        raise _refuse("signature must cover " + " ".join(expected))
    keyid, created, nonce, alg = (params.get(k) for k in ("keyid", "created", "nonce", "alg"))
    if alg != httpsig.ALG:
        raise _refuse("alg must be hmac-sha256")
    if not isinstance(keyid, str) or not KEYID_RE.match(keyid):
        raise _refuse("missing or malformed keyid")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < MAX_CREATED:
        raise _refuse("missing or malformed created")
    if not isinstance(nonce, str) or not NONCE_RE.match(nonce):
        raise _refuse("nonce must be at least 16 random bytes (base64url or hex)")
    return SignedParams(keyid, created, nonce, raw, signature)


def is_fresh(params: SignedParams, *, now: datetime, skew_seconds: int) -> bool:
    return abs(int(now.timestamp()) - params.created) <= skew_seconds


def check_signature(params: SignedParams, *, key: bytes, method: str, path: str, headers, body: bytes) -> None:
    digest = None
    if body:
        digest = headers.get("content-digest")
        if digest is None or not httpsig_server.equal(digest.encode(), httpsig.content_digest(body).encode()):
            raise _refuse("Content-Digest does not match the body")
    try:
        base = httpsig.signature_base(httpsig.request_components(method, path, digest), params.raw)
    except httpsig.SignatureError:
        raise _refuse("malformed signed component") from None
    if not httpsig_server.equal(params.signature, httpsig_server.hmac_sha256(key, base)):
        raise _refuse("signature does not verify")


def reply_headers(
    *, key: bytes, keyid: str, status: int, body: bytes, request_signature: str, now: datetime
) -> dict[str, str]:
    return httpsig_server.sign_reply(key, keyid, status, body, request_signature, int(now.timestamp()))
