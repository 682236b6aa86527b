# The rarely run half of the offline codes (doorlogic.offline): installing the credentials
# from a signed state reply, and checking a typed code (TOTP, SHA-1). The Vault loads this
# module only for the call that needs it (doorlogic.lazy_call) and unloads it after, so the
# door does not keep it in RAM while the backend answers.
import binascii

from doorlogic import const, totp
from doorlogic.httpsig import hmac_sha256

_MAX_USES = const(20)  # one upload's worth; older ones are dropped first (the audit is the backend's)


def decrypt(key, nonce, cred_id, hex_secret):
    """The TOTP secret sent as hex(secret XOR HMAC-SHA256(key, "smartdoor-offline-v1|" +
    nonce + "|" + id)[:len])."""
    data = binascii.unhexlify(hex_secret)
    if not 0 < len(data) <= 32:
        raise ValueError("secret size")
    pad = hmac_sha256(key, b"smartdoor-offline-v1|" + nonce.encode() + b"|" + cred_id.encode())
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
        step = totp.match(binascii.unhexlify(hex_secret), code, epoch_s)
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
