# A small JSON document kept in flash, written atomically: the new text goes to a temporary
# file which then replaces the old one by rename (LittleFS and POSIX replace in one step),
# so a reset mid-write leaves either the old or the new document, never half of one. Callers
# write rarely (a lock state change, an offline use): flash wears out.
import json


class Store:
    def __init__(self, path, fs=None):
        if fs is None:
            import os as fs
        self._fs = fs
        self.path = path
        self._tmp = path + ".tmp"
        self.writes = 0

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
        fs = self._fs
        with open(self._tmp, "w") as f:
            json.dump(data, f)
        try:
            fs.rename(self._tmp, self.path)
        except OSError:  # a filesystem whose rename will not replace (FAT)
            try:
                fs.remove(self.path)
            except OSError:
                pass
            fs.rename(self._tmp, self.path)
        self.writes += 1
