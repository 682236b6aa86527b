# Offline codes (device protocol 6.-8.): the TOTP credentials the backend sent in signed
# state replies, checked by the door itself when the backend cannot be reached. Everything
# that must survive a reset lives in the Store: the credentials, the last time step each
# one opened (each step opens once), the wrong-code count (its escalating wait starts again
# from the top after a reset, so pulling the power does not skip it) and the queued uses
# that go up with POST /api/v1/offline/uses when the backend is back.
import binascii

from doorlogic import totp
from doorlogic.httpsig import hmac_sha256

MAX_USES = 20  # one upload's worth; older ones are dropped first (the audit is the backend's)
FREE_TRIES = 3  # wrong codes before the first wait
WAIT_S = 30  # first wait, doubled for every FREE_TRIES more wrong codes ...
MAX_WAIT_S = 3600  # ... up to an hour


def decrypt(key, nonce, cred_id, hex_secret):
    """The TOTP secret sent as hex(secret XOR HMAC-SHA256(key, "smartdoor-offline-v1|" +
    nonce + "|" + id)[:len])."""
    data = binascii.unhexlify(hex_secret)
    if not 0 < len(data) <= 32:
        raise ValueError("secret size")
    pad = hmac_sha256(key, b"smartdoor-offline-v1|" + nonce.encode() + b"|" + cred_id.encode())
    return bytes(data[i] ^ pad[i] for i in range(len(data)))


def wait_for(fails):
    """Seconds to wait after `fails` consecutive wrong offline codes."""
    if fails < FREE_TRIES:
        return 0
    return min(MAX_WAIT_S, WAIT_S << min(fails // FREE_TRIES - 1, 12))


class Vault:
    def __init__(self, store):
        self._store = store
        d = store.load()
        self.data = d
        o = d.get("offline")
        self.version = o.get("version") if isinstance(o, dict) else None
        self.creds = o.get("creds", []) if isinstance(o, dict) else []
        self.fails = d.get("fails", 0)
        self.used = d.get("used", {})  # credential id -> last step that opened
        self.uses = d.get("uses", [])  # queued for upload
        self.wrong = d.get("wrong", 0)  # wrong codes not uploaded yet

    def _save(self):
        d = self.data
        d["offline"] = {"version": self.version, "creds": self.creds}
        d["fails"] = self.fails
        d["used"] = self.used
        d["uses"] = self.uses
        d["wrong"] = self.wrong
        self._store.save(d)

    def save_door(self, state):
        """The last commanded lock state (fail-secure boot); written only when it changes."""
        if self.data.get("door") != state:
            self.data["door"] = state
            self._save()

    @property
    def door(self):
        return self.data.get("door")

    # --- credentials from a signed state reply ---------------------------------------------
    def install(self, key, block):
        """block: the reply's "offline" object. Raises ValueError when malformed (nothing
        is changed then)."""
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
        self.version = version
        self.creds = creds
        ids = [c[0] for c in creds]
        self.used = {k: v for k, v in self.used.items() if k in ids}
        self._save()

    # --- checking a typed code -------------------------------------------------------------
    def wait_left(self):
        """Seconds to wait before the next offline code is checked (counted by the caller
        from the last wrong code, or from the start after a reset)."""
        return wait_for(self.fails)

    def check(self, code, epoch_s):
        """The credential id that code opens at epoch_s (and records the use), or None
        (and counts a wrong code). Each credential's time step opens once."""
        hit = None
        for cid, _label, hex_secret, vf, vu in self.creds:
            if (vf is not None and epoch_s < vf) or (vu is not None and epoch_s > vu):
                continue
            step = totp.match(binascii.unhexlify(hex_secret), code, epoch_s)
            if step is not None and step > self.used.get(cid, -1) and hit is None:
                hit = (cid, step)
        if hit is None:
            self.fails += 1
            self.wrong += 1
            self._save()
            return None
        self.used[hit[0]] = hit[1]
        self.fails = 0
        self.record(hit[0], hit[1], epoch_s, "unlock")
        return hit[0]

    def record(self, cid, step, epoch_s, action):
        self.uses.append({"credential": cid, "step": step, "at": epoch_s, "action": action})
        del self.uses[:-MAX_USES]
        self._save()

    # --- upload ----------------------------------------------------------------------------
    def pending(self):
        """The body pairs of the next upload, or None when there is nothing to send."""
        if not self.uses and not self.wrong:
            return None
        pairs = [("uses", self.uses[:])]
        if self.wrong:
            pairs.append(("wrong_codes", self.wrong))
        return pairs

    def uploaded(self, pairs):
        """The backend accepted the upload built from pairs."""
        sent = pairs[0][1]
        self.uses = [u for u in self.uses if u not in sent]
        for name, value in pairs[1:]:
            if name == "wrong_codes":
                self.wrong = max(0, self.wrong - value)
        self._save()
