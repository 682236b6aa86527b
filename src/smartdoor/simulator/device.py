"""A simulated door (the firmware's DoorMachine wired to virtual parts) and the thread that
runs it. Only the device thread calls the DoorMachine (it is not thread-safe); key presses
are queued to that thread, and readers use the parts' locked snapshots."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable

from doorlogic.client import DoorClient
from doorlogic.clock import Clock
from doorlogic.statemachine import DoorMachine
from smartdoor.simulator.hardware import VirtualBuzzer, VirtualLCD, VirtualServo
from smartdoor.simulator.transport import http_transport

KEYS = frozenset("123A456B789C*0#D")
TICK_SECONDS = 0.1
FIRMWARE = "sim-0.1.0"


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
