"""`smartdoor simulate`: the simulated door in a terminal, against any backend. Type keys
(digits, *, #, A-D) and Enter; the 16x2 LCD and the servo are printed when they change."""

from __future__ import annotations

import re
import sys
import threading

from smartdoor.simulator.device import KEYS, DeviceThread, SimulatedDevice

HELP = "keys: 0-9 * # A B C D (several per line are fine), Enter sends; net off / net on; q quits"


def render(lines: tuple[str, str], angle: int | None = None, state: str = "") -> str:
    bar = "+" + "-" * 16 + "+"
    servo = "" if angle is None else f"   servo {angle:>2}° {state}"
    return f"{bar}\n|{lines[0]:<16}|{servo}\n|{lines[1]:<16}|\n{bar}"


def _watch(device: SimulatedDevice, stop: threading.Event, out) -> None:
    shown = None
    screen = 0
    seq = device.buzzer.seq
    while not stop.is_set():
        screens = device.lcd.since(screen) or [(screen, device.lcd.lines)]
        for i, (screen, lines) in enumerate(screens):  # noqa: B007 (screen is read by the next pass)
            view = (lines, device.servo.angle, device.servo.state)
            if view != shown:
                shown = view
                # the servo's position is known for now, i.e. for the latest screen only
                print(render(*view) if i == len(screens) - 1 else render(lines), file=out, flush=True)
        for tone in device.buzzer.since(seq):
            seq = tone["seq"]
            if tone["name"] != "key":
                print(f"  (buzzer: {tone['name']})", file=out, flush=True)
        stop.wait(0.1)


def run_simulator(url: str, door_id: str, secret_hex: str, *, stdin=None, out=None) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    if not re.fullmatch(r"[0-9a-fA-F]{64}", secret_hex):
        print("smartdoor: --secret is the door's 64 hex characters", file=sys.stderr)
        return 2
    device = SimulatedDevice(url, door_id, secret_hex.lower())
    thread = DeviceThread(device)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(device, stop, out), daemon=True)
    thread.start()
    thread.started.wait(5)
    watcher.start()
    print(HELP, file=out, flush=True)
    try:
        for line in stdin:
            line = line.strip()
            if line.lower() in ("q", "quit", "exit"):
                break
            if line.lower() in ("net off", "net on"):  # the network switch, as on the demo page
                device.set_network(line.lower() == "net on")
                print(f"  (network {'online' if device.network_up else 'offline'})", file=out, flush=True)
                continue
            for ch in line.upper():
                if ch in KEYS:
                    thread.press(ch)  # queued in order; the device thread feeds them
                elif not ch.isspace():
                    print(f"  (not a key: {ch!r})", file=out, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.stop()
        watcher.join(1)
    return 0
