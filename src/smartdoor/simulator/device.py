"""A simulated door (the firmware's DoorMachine wired to virtual parts) and the thread that
runs it. Only the device thread calls the DoorMachine (it is not thread-safe); key presses
are queued to that thread, and readers use the parts' locked snapshots.

The machine asks for network calls as jobs (as on the board, where an asyncio task runs
them). Here a job runs through the firmware's own Exchange rules (doorlogic.client.run:
stale-clock resync, identical resend after a lost reply, 409 in_progress) over a blocking
HTTP transport: inline in tick() by default (tests drive the clock), or on a worker thread
under DeviceThread, so keys, C (cancel) and timers keep working during a call, as on the
board. The "network" switch makes every call fail as if the backend were unreachable, so
the offline codes can be tried."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable

from doorlogic import client as door_client
from doorlogic.clock import Clock
from doorlogic.offline import Vault
from doorlogic.statemachine import DoorMachine
from smartdoor.simulator.hardware import VirtualBuzzer, VirtualLCD, VirtualServo
from smartdoor.simulator.transport import http_transport

KEYS = frozenset("123A456B789C*0#D")
TICK_SECONDS = 0.1
FIRMWARE = "sim-0.2.0"


class MemoryStore:
    """What the board keeps in flash (doorlogic.offline.Store), kept in memory as JSON text."""

    def __init__(self) -> None:
        self._text = "{}"
        self.writes = 0

    def load(self) -> dict:
        return json.loads(self._text)

    def save(self, data: dict) -> None:
        self._text = json.dumps(data)
        self.writes += 1


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
        threaded: bool = False,
    ) -> None:
        self.base_url = base_url
        self.door_id = door_id
        self.lcd = VirtualLCD()
        self.servo = VirtualServo()
        self.buzzer = VirtualBuzzer()
        self.clock = Clock()
        self.clock.set_epoch(int(time.time()), "ntp")  # the host keeps its clock by NTP
        self.client = door_client.DoorClient(base_url, door_id, bytes.fromhex(secret_hex), self.clock, os.urandom)
        self.store = MemoryStore()
        self.vault = Vault(self.store)
        self._transport = transport or http_transport()
        self.network_up = True
        self._threaded = threaded
        self._worker: threading.Thread | None = None
        self._results: queue.Queue = queue.Queue()
        self._started = time.monotonic()
        self._now_ms: Callable[[], int] = monotonic_ms
        options = {"heartbeat_s": 30, "reset_cause": "power_on"}
        options.update(machine_options or {})
        self.machine = DoorMachine(
            self.lcd,
            self.buzzer,
            self.servo,
            self.vault,
            self.clock,
            self.client.key,
            diagnostics=self._diagnostics,
            wifi_ok=lambda: self.network_up,
            status_extra=self._status_extra,
            **options,
        )

    def _diagnostics(self) -> dict:
        return {"ip": "simulated", "gateway": "simulated", "rssi": None}

    def _status_extra(self) -> dict:
        return {"firmware": FIRMWARE, "uptime": int(time.monotonic() - self._started)}

    def set_network(self, up: bool) -> None:
        """The demo's network switch: off, every call fails as if the backend were down."""
        self.network_up = bool(up)

    def _send(self, method, url, headers, body, timeout_ms):
        if not self.network_up:
            raise OSError(101, "network is down (simulator switch)")
        return self._transport(method, url, headers, body)

    def _run(self, job, now_ms: Callable[[], int]):
        ex = self.client.exchange(job.kind, job.pairs, now_ms(), job.deadline_ms)
        return door_client.run(ex, self._send, now_ms, lambda ms: time.sleep(ms / 1000))

    def start(self, now_ms: int) -> None:
        self.machine.start(now_ms)
        self._jobs(now_ms)

    def press(self, key: str, now_ms: int) -> None:
        if key not in KEYS:
            raise ValueError(f"not a keypad key: {key!r}")
        self.machine.key(key, now_ms)

    def tick(self, now_ms: int) -> None:
        self.machine.tick(now_ms)
        self._jobs(now_ms)

    def _jobs(self, now_ms: int) -> None:
        if self._threaded:
            self._threaded_jobs(now_ms)
            return
        job = self.machine.take_job(now_ms)
        while job is not None:  # inline: the caller's clock stands still during the call
            self.machine.finish(job, self._run(job, lambda: now_ms), now_ms)
            job = self.machine.take_job(now_ms)

    def _threaded_jobs(self, now_ms: int) -> None:
        try:
            job, result = self._results.get_nowait()
        except queue.Empty:
            pass
        else:
            self._worker = None
            self.machine.finish(job, result, now_ms)
        if self._worker is not None:
            return
        job = self.machine.take_job(now_ms)
        if job is None:
            return

        def work():
            try:
                result = self._run(job, self._now_ms)
            except Exception as exc:  # a bug, not the network: the door keeps running
                result = door_client.Result(door_client.ERROR, message=type(exc).__name__)
            self._results.put((job, result))

        self._worker = threading.Thread(target=work, name="simulated-door-call", daemon=True)
        self._worker.start()

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
            "network": "online" if self.network_up else "offline",
            "offline_codes": len(self.vault.creds),
            "tones": [] if since is None else self.buzzer.since(since),
            "seq": seq,
        }


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


class DeviceThread:
    """Runs a SimulatedDevice: starts it once ready() says so, then feeds queued key presses
    and a tick every ~100 ms. Network calls run on a worker thread (the device's threaded
    mode), so the door answers keys while a call is under way."""

    def __init__(
        self,
        device: SimulatedDevice,
        *,
        ready: Callable[[], bool] | None = None,
        now_ms: Callable[[], int] = monotonic_ms,
        tick_s: float = TICK_SECONDS,
    ) -> None:
        self.device = device
        device._threaded = True
        device._now_ms = now_ms
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
