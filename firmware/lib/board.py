# The door on a real board: builds the parts from config.py (through the machine and
# network modules passed in, so tests can pass fakes) and runs them as asyncio tasks that
# never block one another:
#   ui    every 10 ms: keypad, exit button, reed switch, the state machine's timers,
#         servo release, buzzer notes, LCD retry, status LED, uptime, and the watchdog,
#         fed only while every task shows it is alive (a hung task resets the board,
#         which boots into SAFE_STATE)
#   net   the state machine's calls, one at a time, over doorlogic.client.Exchange and
#         drivers.http (one deadline per call); C cancels a call in flight
#   wifi  link supervision (never connect() while connecting; errors shown, never raised)
#         and NTP once the link is up
# All behaviour lives in doorlogic (pure, tested on CPython and MicroPython).
import asyncio
import binascii
import gc
import os
import sys
import time

from doorlogic import client as _c
from doorlogic import const, forget, lazy_call
from doorlogic.clock import Clock, port_epoch_offset
from doorlogic.offline import Store, Vault
from doorlogic.statemachine import DoorMachine
from doorlogic.ticks import Uptime, diff
from drivers import http, wifi
from drivers.buzzer import Buzzer
from drivers.keypad import Keypad, Switch
from drivers.servo import Servo

FIRMWARE = "0.2.0"
HANG_GRACE_MS = 5000  # a call still running this long after its deadline is hung
_LOOP_MS = const(10)
_WIFI_POLL_MS = const(500)
_STATE_FILE = const("/door.json")
ticks_ms = getattr(time, "ticks_ms", None)


def sleep_ms(ms):
    f = getattr(asyncio, "sleep_ms", None)
    return f(ms) if f else asyncio.sleep(ms / 1000)


class Door:
    def __init__(self, machine, network, cfg, display, now_ms=None, store_path=_STATE_FILE, log=print):
        self._m = machine
        self.cfg = cfg
        self.display = display
        self.log = log
        self.now_ms = now_ms or ticks_ms
        Pin = machine.Pin
        # rows idle released (open-drain, high through the column pull-ups) and pulled low
        # one at a time: two keys pressed together never short two driven outputs
        rows = [Pin(n, Pin.OPEN_DRAIN, value=1) for n in cfg["KEYPAD_ROWS"]]
        cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in cfg["KEYPAD_COLS"]]
        self.keypad = Keypad(rows, cols)
        self.servo = Servo(
            machine.PWM(Pin(cfg["SERVO_PIN"]), freq=50, duty_u16=0),
            lock_angle=cfg["LOCK_ANGLE"],
            unlock_angle=cfg["UNLOCK_ANGLE"],
            release_ms=cfg["SERVO_RELEASE_MS"],
        )
        self.buzzer = Buzzer(machine.PWM(Pin(cfg["BUZZER_PIN"]), duty_u16=0))
        self.exit = self.reed = self.led = None
        if cfg["EXIT_BUTTON_PIN"] is not None:
            self.exit = Switch(Pin(cfg["EXIT_BUTTON_PIN"], Pin.IN, Pin.PULL_UP), 0)
        if cfg["DOOR_SENSOR_PIN"] is not None:
            self.reed = Switch(Pin(cfg["DOOR_SENSOR_PIN"], Pin.IN, Pin.PULL_UP), cfg["DOOR_OPEN_LEVEL"], 200)
        if cfg["STATUS_LED_PIN"] is not None:
            self.led = Pin(cfg["STATUS_LED_PIN"], Pin.OUT, value=0)
        self.wlan = network.WLAN(network.STA_IF)
        self.link = wifi.WifiLink(self.wlan, network, cfg["WIFI_SSID"], cfg["WIFI_PASSWORD"], log=log)
        self.clock = Clock(time.time, port_epoch_offset())
        self.client = _c.DoorClient(
            cfg["BACKEND_URL"], cfg["DOOR_ID"], binascii.unhexlify(cfg["DOOR_SECRET"]), self.clock, os.urandom
        )
        self.vault = Vault(Store(store_path))
        now = self.now_ms()
        self.uptime = Uptime(now)
        self.alive = {"net": now, "wifi": now}  # each task's last sign of life
        self.wdt = None
        self.machine = DoorMachine(
            display,
            self.buzzer,
            self.servo,
            self.vault,
            self.clock,
            self.client.key,
            diagnostics=self.diagnostics,
            wifi_ok=lambda: self.link.up,
            status_extra=self.status_extra,
            heartbeat_s=cfg["HEARTBEAT_SECONDS"],
            relock_s=cfg["AUTO_RELOCK_SECONDS"],
            safe_state=cfg["SAFE_STATE"],
            reset_cause=lazy_call("settings", "reset_cause", machine),  # read once: not kept in RAM
        )
        if self.reed is not None:
            self.machine.door_open = self.reed.state  # reported from the boot report on

    def set_rtc(self, epoch):
        """The RTC keeps the time over a watchdog or soft reset, so offline codes work
        straight after one (the clock trusts an RTC showing a plausible date)."""
        try:
            g = time.gmtime(epoch - port_epoch_offset())  # (Y, M, D, h, m, s, weekday, ...)
            self._m.RTC().datetime((g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0))
        except Exception as e:  # a port without RTC.datetime: the offset alone does it
            self.log("rtc:", e)

    def diagnostics(self):
        d = wifi.info(self.wlan)
        d["why"] = self.link.reason
        return d

    def status_extra(self):
        return {
            "rssi": wifi.info(self.wlan).get("rssi"),
            "firmware": FIRMWARE,
            "uptime": self.uptime.seconds,
            "heap": gc.mem_free() if hasattr(gc, "mem_free") else None,
        }

    # --- tasks ---------------------------------------------------------------------------
    async def ui(self):
        m = self.machine
        limit = self.cfg["WATCHDOG_MS"] // 2
        while True:
            now = self.now_ms()
            k = self.keypad.scan(now)
            if k:
                m.key(k, now)
            if self.exit is not None and self.exit.poll(now):
                m.exit_pressed(now)
            if self.reed is not None:
                changed = self.reed.poll(now)
                if changed is not None:
                    m.door_sensor(changed, now)
            m.tick(now)
            self.servo.tick(now)
            self.buzzer.tick(now)
            self.display.tick(now)
            self.uptime.update(now)
            if self.led is not None:
                self.led.value(1 if m.door == "unlocked" else 0)
            if self.wdt is not None:
                alive = True
                for t in self.alive.values():
                    if diff(now, t) > limit:
                        alive = False
                if alive:
                    self.wdt.feed()
            await sleep_ms(_LOOP_MS)

    async def net(self):
        m = self.machine
        while True:
            now = self.now_ms()
            self.alive["net"] = now
            job = m.take_job(now)
            if job is None:
                await sleep_ms(20)
                continue
            gc.collect()  # before the call: TLS and the reply need the room
            task = asyncio.create_task(self._exchange(job))
            hung_after = job.deadline_ms + HANG_GRACE_MS
            while not task.done():
                t = self.now_ms()
                if diff(t, now) < hung_after:  # past it, the watchdog is no longer fed
                    self.alive["net"] = t
                if job.cancelled:
                    task.cancel()
                    break
                await sleep_ms(20)
            result = None
            if not job.cancelled:
                try:
                    result = await task  # done: returns at once
                except Exception as e:  # a bug, not the network: keep the door running
                    if hasattr(sys, "print_exception"):
                        sys.print_exception(e)
                    else:
                        print("error:", repr(e))
                    result = _c.Result(_c.ERROR, message="internal")
            m.finish(job, result, self.now_ms())
            del task
            gc.collect()

    async def _exchange(self, job):
        ex = self.client.exchange(job.kind, job.pairs, self.now_ms(), job.deadline_ms)
        while ex.wait_ms is not None:
            if ex.wait_ms:
                await sleep_ms(ex.wait_ms)
            try:
                status, h, body = await http.request(ex.method, ex.url, ex.headers, ex.body, ex.left(self.now_ms()))
            except OSError as e:
                ex.failed(e, self.now_ms())
                continue
            ex.replied(status, h, body, self.now_ms())
        return ex.result

    async def wifi(self):
        host = self.cfg["NTP_HOST"]
        shown = None
        while True:
            now = self.now_ms()
            self.alive["wifi"] = now
            up = self.link.poll(now)
            if self.link.changed and up and host:
                try:
                    t = await wifi.ntp_query(host)
                    self.set_rtc(t)
                    self.clock.set_epoch(t, "ntp")
                except OSError as e:
                    self.log("ntp:", e)  # signed replies will give us the time
            why = None if up else self.link.reason
            if why != shown:
                shown = why
                self.log("wifi:", why or "up")
                self.machine.note = why
                self.machine.refresh()
            await sleep_ms(_WIFI_POLL_MS)

    async def run(self, wdt=None):
        self.wdt = wdt
        self.machine.start(self.now_ms())
        gc.collect()
        await asyncio.gather(self.ui(), self.net(), self.wifi())


def main(machine, network, config):
    """The door, from main.py: the boot steps (startup, unloaded once done), then the tasks."""
    import startup

    cfg, display, wdt, errors = startup.prepare(machine, config)
    if errors:  # the door cannot run: the errors are shown until someone fixes config.py
        asyncio.run(startup.show_config_errors(display, errors, wdt))
        return
    del startup
    forget("startup")
    door = Door(machine, network, cfg, display)
    del config, cfg
    gc.collect()
    asyncio.run(door.run(wdt))
