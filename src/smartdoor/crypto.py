"""Keys derived from SECRET_KEY, and sealing door secrets at rest with them.

Every door has two secrets, both sealed (AES-GCM, the door id as associated data) under a
key derived from SECRET_KEY: the device secret it signs with, and the key its codes are
hashed with. A code hash made with a per-door key survives a change of SECRET_KEY: rotating
the server key re-seals both secrets and pending codes keep working (smartdoor.doors.rotation).
While a rotation is under way the old key may be given too (SECRET_KEY_OLD): what it sealed
still opens."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"smartdoor-v1", info=purpose.encode()).derive(master)


class Unsealable(Exception):
    """Sealed under a key this keyring does not hold."""


class _Sealer:
    def __init__(self, master: bytes) -> None:
        self.key_id = derive_key(master, "key-id").hex()[:16]  # names the key, reveals nothing of it
        self.aead = AESGCM(derive_key(master, "door-secret-at-rest"))
        self.shared_code_key = derive_key(master, "code-hash")


class Keyring:
    def __init__(self, master: bytes, old: bytes | None = None) -> None:
        self._current = _Sealer(master)
        self._old = _Sealer(old) if old else None

    @property
    def key_id(self) -> str:
        return self._current.key_id

    def seal(self, door_id: str, secret: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._current.aead.encrypt(nonce, secret, door_id.encode())

    def open(self, door_id: str, sealed: bytes) -> bytes:
        return self.open_with(door_id, sealed)[0]

    def open_with(self, door_id: str, sealed: bytes) -> tuple[bytes, bool]:
        """The plain secret, and whether the current key (not the old one) sealed it."""
        for sealer, current in ((self._current, True), (self._old, False)):
            if sealer is None:
                continue
            try:
                return sealer.aead.decrypt(sealed[:12], sealed[12:], door_id.encode()), current
            except InvalidTag:
                continue
        raise Unsealable(door_id)

    @property
    def rotating(self) -> bool:
        return self._old is not None

    def previous_shared_code_key(self) -> bytes:
        """The shared code key of the key being rotated away from (or the current one)."""
        return (self._old or self._current).shared_code_key

    def shared_code_keys(self) -> list[bytes]:
        """Doors made before codes had a key of their own hash them with a key derived from
        SECRET_KEY (the current one first, then the old one during a rotation)."""
        return [s.shared_code_key for s in (self._current, self._old) if s is not None]


def code_hash(code_key: bytes, challenge_id: str, code: str) -> str:
    # bound to the challenge, so equal codes of two challenges hash differently
    return hmac.new(code_key, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()
