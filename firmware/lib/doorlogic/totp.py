# The rarely run half of the offline codes (doorlogic.offline): RFC 6238 TOTP (HMAC-SHA-1,
# RFC 4226 dynamic truncation) as authenticator apps make it (6 digits, 30 s steps), and the
# Vault's two operations that need it: installing the credentials from a signed state reply
# (decrypt) and checking a typed code (check). The Vault loads this module only for the call
# that needs it (doorlogic.lazy_call) and unloads it after, so the door does not keep it in
# RAM while the backend answers.
import binascii
import hashlib

from doorlogic import const
from doorlogic.httpsig import equal, hmac_sha256

_STEP_S = const(30)
_DIGITS = const(6)
_MAX_USES = const(20)  # one upload's worth; older ones are dropped first (the audit is the backend's)


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


def hotp(secret, step, digits=_DIGITS):
    """The code of time step (RFC 4226's counter)."""
    mac = hmac_sha1(secret, step.to_bytes(8, "big"))
    o = mac[19] & 0x0F
    value = int.from_bytes(mac[o : o + 4], "big") & 0x7FFFFFFF
    s = str(value % 10**digits)
    return "0" * (digits - len(s)) + s


def step_of(epoch_s):
    return epoch_s // _STEP_S


def match(secret, code, epoch_s):
    """The time step (int) whose code equals code, within one step of epoch_s; None when
    none does. Every candidate is computed and compared in constant time (no early return
    on a match), so the time taken does not tell which step matched."""
    t = step_of(epoch_s)
    found = None
    for s in range(t - 1, t + 2):
        if s >= 0 and equal(hotp(secret, s).encode(), code.encode()) and found is None:
            found = s
    return found


# --- the Vault's operations -----------------------------------------------------------
def decrypt(key, nonce, credential, secret):
    """The TOTP secret of credential (its id) sent as secret = hex(secret XOR
    HMAC-SHA256(key, "smartdoor-offline-v1|" + nonce + "|" + id)[:len])."""
    data = binascii.unhexlify(secret)
    if not 0 < len(data) <= 32:
        raise ValueError("secret size")
    pad = hmac_sha256(key, b"smartdoor-offline-v1|" + nonce.encode() + b"|" + credential.encode())
    return bytes(data[i] ^ pad[i] for i in range(len(data)))


def install(vault, key, block):
    """block: the reply's "offline" object. Raises ValueError when malformed (nothing is
    changed then)."""
    version = block["version"]
    nonce = block["nonce"]
    if not isinstance(version, int) or not isinstance(nonce, str) or len(nonce) != 32:
        raise ValueError("offline block")
    creds = []
    for c in block["credentials"][:16]:
        cid = c["id"]
        if not isinstance(cid, str) or not 0 < len(cid) <= 32:
            raise ValueError("credential id")
        secret = decrypt(key, nonce, cid, c["secret"])
        creds.append(
            [
                cid,
                str(c.get("label", ""))[:32],
                binascii.hexlify(secret).decode(),
                c.get("valid_from"),
                c.get("valid_until"),
            ]
        )
    vault.version = version
    vault.creds = creds
    ids = [c[0] for c in creds]
    vault.used = {k: v for k, v in vault.used.items() if k in ids}
    vault.save()


def check(vault, code, epoch_s):
    """The credential id that code opens at epoch_s (and records the use), or None (and
    counts a wrong code). Each credential's time step opens once."""
    hit = None
    for cid, _label, hex_secret, vf, vu in vault.creds:
        if (vf is not None and epoch_s < vf) or (vu is not None and epoch_s > vu):
            continue
        step = match(binascii.unhexlify(hex_secret), code, epoch_s)
        if step is not None and step > vault.used.get(cid, -1) and hit is None:
            hit = (cid, step)
    if hit is None:
        vault.fails += 1
        vault.wrong += 1
        vault.save()
        return None
    vault.used[hit[0]] = hit[1]
    vault.fails = 0
    vault.uses.append({"credential": hit[0], "step": hit[1], "at": epoch_s, "action": "unlock"})
    del vault.uses[:-_MAX_USES]
    vault.save()
    return hit[0]
