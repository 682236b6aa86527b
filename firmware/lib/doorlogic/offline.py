# Offline codes (device protocol 6.-8.): the TOTP credentials the backend sent in signed
# state replies, checked by the door itself when the backend cannot be reached. Everything
# that must survive a reset lives in the Store: the credentials, the last time step each
# one opened (each step opens once), the wrong-code count (its escalating wait starts again
# from the top after a reset, so pulling the power does not skip it) and the queued uses
# that go up with POST /api/v1/offline/uses when the backend is back. Installing
# credentials and checking a code (doorlogic.totp) are loaded only while they run.
#
# On the board the Vault keeps its document in a Store: a small JSON file in flash, written
# atomically: the new text goes to a temporary file which then replaces the old one by
# rename (LittleFS and POSIX replace in one step), so a reset mid-write leaves either the old
# or the new document, never half of one. Callers write rarely (a lock state change, an
# offline use): flash wears out. (The simulator and the tests give the Vault a store of
# their own: anything with load() and save(data).)
import json
import os

from doorlogic import const, lazy_call

_FREE_TRIES = const(3)  # wrong codes before the first wait
_WAIT_S = const(30)  # first wait, doubled for every _FREE_TRIES more wrong codes ...
_MAX_WAIT_S = const(3600)  # ... up to an hour


def wait_for(fails):
    """Seconds to wait after `fails` consecutive wrong offline codes."""
    if fails < _FREE_TRIES:
        return 0
    return min(_MAX_WAIT_S, _WAIT_S << min(fails // _FREE_TRIES - 1, 12))


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

    def save(self):
        d = self.data
        d["offline"] = {"version": self.version, "creds": self.creds}
        d["fails"] = self.fails
        d["used"] = self.used
        d["uses"] = self.uses
        d["wrong"] = self.wrong
        self._store.save(d)

    def save_door(self, state, command=None):
        """The last commanded lock state (fail-secure boot) and, with it, the id of the remote
        command that set it (a command is carried out once, across a reset); written only
        when they change."""
        d = self.data
        if d.get("door") != state or (command and d.get("command") != command):
            d["door"] = state
            if command:
                d["command"] = command
            self.save()

    @property
    def door(self):
        return self.data.get("door")

    def install(self, key, block):
        """Credentials from a signed state reply's "offline" object; ValueError when it is
        malformed (nothing is changed then)."""
        lazy_call("totp", "install", self, key, block)

    def wait_left(self):
        """Seconds to wait before the next offline code is checked (counted by the caller
        from the last wrong code, or from the start after a reset)."""
        return wait_for(self.fails)

    def check(self, code, epoch_s):
        """The credential id that code opens at epoch_s (and records the use), or None
        (and counts a wrong code). Each credential's time step opens once."""
        return lazy_call("totp", "check", self, code, epoch_s)

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
        self.save()


class Store:
    def __init__(self, path):
        self.path = path
        self._tmp = path + ".tmp"

    def load(self):
        """The stored dict; {} when there is none or it is unreadable."""
        for p in (self.path, self._tmp):  # tmp: a reset between remove and rename (FAT)
            try:
                with open(p) as f:
                    data = json.load(f)
                if isinstance(data, dict):
                    return data
            except (OSError, ValueError):
                pass
        return {}

    def save(self, data):
        with open(self._tmp, "w") as f:
            json.dump(data, f)
        try:
            os.rename(self._tmp, self.path)
        except OSError:  # a filesystem whose rename will not replace (FAT)
            try:
                os.remove(self.path)
            except OSError:
                pass
            os.rename(self._tmp, self.path)
