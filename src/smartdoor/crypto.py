"""Keys derived from SECRET_KEY: one for code hashes, one for door secrets at rest."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"smartdoor-v1", info=purpose.encode()).derive(master)


class Keyring:
    def __init__(self, master: bytes) -> None:
        self._code_key = derive_key(master, "code-hash")
        self._aead = AESGCM(derive_key(master, "door-secret-at-rest"))

    def hash_code(self, challenge_id: str, code: str) -> str:
        # bound to the challenge so equal codes of two challenges hash differently
        return hmac.new(self._code_key, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def seal(self, door_id: str, secret: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret, door_id.encode())

    def open(self, door_id: str, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], door_id.encode())
