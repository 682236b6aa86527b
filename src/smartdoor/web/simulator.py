"""The simulated door: virtual LCD, servo and buzzer, a CPython HTTP transport, and a thread
that runs the firmware's own state machine (doorlogic, imported from firmware/lib, never
copied) against a backend over real HTTP with real signatures.

Only the device thread calls the DoorMachine (it is not thread-safe); the web page's key
presses are queued to that thread, and the page reads the drivers' snapshots, which are
guarded by a lock.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable

from doorlogic.client import DoorClient
from doorlogic.clock import Clock
from doorlogic.statemachine import DoorMachine
from doorlogic.tones import TONES

KEYS = frozenset("123A456B789C*0#D")
LOCK_ANGLE = 90
UNLOCK_ANGLE = 0
TICK_SECONDS = 0.1
FIRMWARE = "sim-0.1.0"


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


def http_transport(timeout_s: float = 10.0):
    """DoorClient transport over real HTTP (urllib). Returns (status, lower-case headers, body)
    for every reply, 4xx/5xx included; raises OSError when the server cannot be reached.
    Environment proxies are ignored: the door talks to its backend directly."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def transport(method: str, url: str, headers: dict, body: bytes | None):
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            with opener.open(request, timeout=timeout_s) as response:
                return response.status, _lower(response.headers), response.read()
        except urllib.error.HTTPError as reply:  # a reply, just not 2xx
            try:
                body_bytes = reply.read()
            finally:
                reply.close()
            return reply.code, _lower(reply.headers), body_bytes
        except OSError:  # URLError, refused, reset, timeout: all OSError
            raise
        except Exception as exc:  # e.g. a malformed status line: no usable server
            raise OSError(f"http: {exc!r}") from exc

    return transport


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in (headers.items() if headers is not None else ())}


class SimulatedDevice:
    """The firmware's DoorMachine wired to virtual drivers. Not thread-safe: call press() and
    tick() from one thread (DeviceThread does that for the demo; tests call them directly
    with their own millisecond clock)."""

    def __init__(
        self,
        base_url: str,
        door_id: str,
        secret_hex: str,
        *,
        transport: Callable | None = None,
        machine_options: dict | None = None,
    ) -> None:
        self.base_url = base_url
        self.door_id = door_id
        self.lcd = VirtualLCD()
        self.servo = VirtualServo()
        self.buzzer = VirtualBuzzer()
        self.clock = Clock()
        self.client = DoorClient(
            base_url, door_id, bytes.fromhex(secret_hex), transport or http_transport(), self.clock, os.urandom
        )
        self._started = time.monotonic()
        self.machine = DoorMachine(
            self.lcd,
            self.buzzer,
            self.servo,
            self.client,
            diagnostics=self._diagnostics,
            status_extra=self._status_extra,
            **(machine_options or {}),
        )

    def _diagnostics(self) -> dict:
        return {"ip": "simulated", "gateway": "simulated", "rssi": None}

    def _status_extra(self) -> dict:
        return {"firmware": FIRMWARE, "uptime": int(time.monotonic() - self._started)}

    def start(self, now_ms: int) -> None:
        self.machine.start(now_ms)

    def press(self, key: str, now_ms: int) -> None:
        if key not in KEYS:
            raise ValueError(f"not a keypad key: {key!r}")
        self.machine.key(key, now_ms)

    def tick(self, now_ms: int) -> None:
        self.machine.tick(now_ms)

    def snapshot(self, since: int | None = None) -> dict:
        """What the page shows. since None: no tone events, only the current sequence number
        (a freshly opened page must not replay old tones)."""
        line0, line1 = self.lcd.lines
        seq = self.buzzer.seq
        return {
            "lcd": [line0, line1],
            "servo": {"angle": self.servo.angle, "state": self.servo.state},
            "machine": self.machine.state,
            "door": self.door_id,
            "tones": [] if since is None else self.buzzer.since(since),
            "seq": seq,
        }


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


class DeviceThread:
    """Runs a SimulatedDevice: starts it once ready() says so, then feeds queued key presses
    and a tick every ~100 ms. Network calls block this thread only."""

    def __init__(
        self,
        device: SimulatedDevice,
        *,
        ready: Callable[[], bool] | None = None,
        now_ms: Callable[[], int] = monotonic_ms,
        tick_s: float = TICK_SECONDS,
    ) -> None:
        self.device = device
        self._ready = ready
        self._now_ms = now_ms
        self._tick_s = tick_s
        self._keys: queue.Queue[str] = queue.Queue(maxsize=64)
        self._stop = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="simulated-door", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def press(self, key: str) -> bool:
        """Queue a key for the device thread; False when the queue is full."""
        if key not in KEYS:
            raise ValueError(f"not a keypad key: {key!r}")
        try:
            self._keys.put_nowait(key)
        except queue.Full:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while self._ready is not None and not self._ready():
                if self._stop.wait(0.05):
                    return
            self.device.start(self._now_ms())
            self.started.set()
            while not self._stop.is_set():
                try:
                    key = self._keys.get(timeout=self._tick_s)
                except queue.Empty:
                    key = None
                if key is not None:
                    self.device.press(key, self._now_ms())
                self.device.tick(self._now_ms())
        except BaseException as exc:  # keep it visible on the page rather than die silently
            self.error = exc
            self.device.lcd.show("Simulator fault", type(exc).__name__)
            raise
