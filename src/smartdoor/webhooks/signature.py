"""Signing a webhook delivery with RFC 9421 HTTP Message Signatures (hmac-sha256), on the same
signature base code as the device protocol (doorlogic.httpsig), so there is one implementation
of it in the project.

What is signed: the method, the target URI (the receiver's URL as configured, so a delivery
cannot be replayed to another receiver) and the RFC 9530 Content-Digest of the body (which holds
the event's unique `id` and time); parameters `created`, `keyid`, `alg` and `tag`:

    Signature-Input: smartdoor=("@method" "@target-uri" "content-digest");created=1795672502;keyid="3b1f…";alg="hmac-sha256";tag="smartdoor-webhook"
    Signature: smartdoor=:<base64 of HMAC-SHA256(WEBHOOK_SECRET, signature base)>:

`keyid` is a hash of the key: it names it without revealing it, so a receiver that holds the
old and the new key while WEBHOOK_SECRET changes can tell which one to use."""  # noqa: E501

from __future__ import annotations

import hashlib

from doorlogic import httpsig, httpsig_server

LABEL = "smartdoor"
TAG = "smartdoor-webhook"
COMPONENTS = ('"@method"', '"@target-uri"', '"content-digest"')


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"smartdoor-webhook-keyid:" + key).hexdigest()[:16]


def signature_params(*, created: int, keyid: str) -> str:
    return httpsig.serialize_params(
        list(COMPONENTS), [("created", created), ("keyid", keyid), ("alg", httpsig.ALG), ("tag", TAG)]
    )


def signature_base(*, method: str, url: str, digest: str, params: str) -> bytes:
    values = (method.upper(), url, digest)
    return httpsig.signature_base(list(zip(COMPONENTS, values)), params)


def sign(*, key: bytes, url: str, body: bytes, created: int, method: str = "POST") -> dict[str, str]:
    """The headers that sign a delivery of `body` to `url`."""
    digest = httpsig.content_digest(body)
    params = signature_params(created=created, keyid=key_id(key))
    mac = httpsig_server.hmac_sha256(key, signature_base(method=method, url=url, digest=digest, params=params))
    return {
        "Content-Type": "application/json",
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{httpsig.b64encode(mac)}:",
    }
