"""Virtual door hardware with the same methods the firmware's drivers have. Each part keeps
a history the web page and the terminal read from other threads, guarded by a lock."""

from __future__ import annotations

import threading
import time
from collections import deque

from doorlogic.tones import TONES

LOCK_ANGLE = 90
UNLOCK_ANGLE = 0


class VirtualLCD:
    """16x2 text display: remembers the two lines it was last told to show."""

    WIDTH = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines = ("", "")
        self._count = 0
        self.history: deque[tuple[int, tuple[str, str]]] = deque(maxlen=100)

    def show(self, line0: str, line1: str = "") -> None:
        lines = (str(line0)[: self.WIDTH], str(line1)[: self.WIDTH])
        with self._lock:
            self._lines = lines
            self._count += 1
            self.history.append((self._count, lines))

    def since(self, count: int) -> list[tuple[int, tuple[str, str]]]:
        """Screens shown after the count-th one, oldest first: (count, lines)."""
        with self._lock:
            return [h for h in self.history if h[0] > count]

    @property
    def lines(self) -> tuple[str, str]:
        with self._lock:
            return self._lines


class VirtualServo:
    """Lock 90 degrees, unlock 0 degrees. Starts at the lock position, as the demo door does."""

    def __init__(self, angle: int = LOCK_ANGLE) -> None:
        self._lock = threading.Lock()
        self._angle = angle
        self.moves: list[int] = []

    def lock(self) -> None:
        self._move(LOCK_ANGLE)

    def unlock(self) -> None:
        self._move(UNLOCK_ANGLE)

    def _move(self, angle: int) -> None:
        with self._lock:
            self._angle = angle
            self.moves.append(angle)

    @property
    def angle(self) -> int:
        with self._lock:
            return self._angle

    @property
    def state(self) -> str:
        return "unlocked" if self.angle == UNLOCK_ANGLE else "locked"


class VirtualBuzzer:
    """Records each tone sequence with a sequence number; the page plays them with Web Audio
    from the same table (doorlogic.tones.TONES) the real buzzer uses."""

    def __init__(self, keep: int = 200) -> None:
        self._lock = threading.Lock()
        self._events: deque[dict] = deque(maxlen=keep)
        self._seq = 0

    def tone(self, name: str) -> None:
        if name not in TONES:
            raise KeyError(name)
        with self._lock:
            self._seq += 1
            self._events.append({"seq": self._seq, "name": name, "at": time.time()})

    def startup(self) -> None:
        self.tone("startup")

    def key(self) -> None:
        self.tone("key")

    def success(self) -> None:
        self.tone("success")

    def error(self) -> None:
        self.tone("error")

    def action(self) -> None:
        self.tone("action")

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq

    def since(self, seq: int) -> list[dict]:
        """Tone events with a sequence number above seq, oldest first."""
        with self._lock:
            return [dict(e) for e in self._events if e["seq"] > seq]

    def names(self) -> list[str]:
        with self._lock:
            return [e["name"] for e in self._events]
