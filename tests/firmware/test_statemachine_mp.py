# Door state machine tests as plain asserts: no pytest, no unittest.mock, nothing CPython
# only, so they also run under real MicroPython. Every test_* function takes no argument.
# The fakes here (a tiny signing server among them) are reused by the CPython tests.
import sys

try:  # CPython: make firmware/lib importable (MicroPython's runner sets its own path)
    import os

    _lib = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "firmware", "lib")
    if _lib not in sys.path:
        sys.path.insert(0, _lib)
except Exception:
    for _p in ("firmware/lib", "../firmware/lib", "../../firmware/lib"):
        if _p not in sys.path:
            sys.path.append(_p)

import binascii
import json

from doorlogic import httpsig, httpsig_server, screens, ticks
from doorlogic.client import DoorClient
from doorlogic.client import run as client_run
from doorlogic.clock import Clock
from doorlogic.offline import Vault
from doorlogic.statemachine import DoorMachine

KEY = bytes(range(32))
DOOR = "door-1"
EPOCH = 1760000000
BASE = "http://10.0.0.5:8000"


# --- fakes ------------------------------------------------------------------------------
class FakeDisplay:
    def __init__(self):
        self.lines = ("", "")
        self.history = []

    def show(self, line0, line1):
        assert len(line0) <= 16 and len(line1) <= 16, (line0, line1)
        self.lines = (line0, line1)
        self.history.append(self.lines)

    def text(self):
        return self.lines[0] + "|" + self.lines[1]


class FakeBuzzer:
    def __init__(self):
        self.calls = []

    def startup(self):
        self.calls.append("startup")

    def key(self):
        self.calls.append("key")

    def success(self):
        self.calls.append("success")

    def error(self):
        self.calls.append("error")

    def action(self):
        self.calls.append("action")


class FakeServo:
    def __init__(self):
        self.calls = []
        self.angle = 90

    def lock(self):
        self.calls.append("lock")
        self.angle = 90

    def unlock(self):
        self.calls.append("unlock")
        self.angle = 0


class Counter:
    """random_bytes stand-in: distinct, predictable nonces."""

    def __init__(self):
        self.n = 0

    def __call__(self, size):
        self.n += 1
        return self.n.to_bytes(size, "big")


def _path_of(url):
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    slash = url.find("/", start)
    return url[slash:] if slash >= 0 else "/"


class MemStore:
    """doorlogic.offline.Store in memory (what would be in flash), JSON round trip included."""

    def __init__(self, data=None):
        self.text = json.dumps(data or {})
        self.writes = 0

    def load(self):
        return json.loads(self.text)

    def save(self, data):
        self.text = json.dumps(data)
        self.writes += 1


class FakeServer:
    """A tiny Smart Door backend as a transport callable. It checks each request's
    signature like the real one, signs replies only to requests whose signature verified
    (protocol 1.), answers a repeated identical request with the original outcome
    (protocol 4.), and serves offline credentials in state replies (protocol 6.).
    queue(path, status, obj) overrides the next reply for a path; unsigned / tamper /
    down / wrong_key / lose / busy simulate attacks and outages."""

    def __init__(self, key=KEY, door=DOOR, code="123456", digits=6):
        self.key = key
        self.door = door
        self.now = EPOCH
        self.code = code
        self.digits = digits
        self.attempts_left = 5
        self.challenge = None
        self.action = None
        self.queued = {}
        self.requests = []  # (method, path, parsed body or None)
        self.rejected = []  # why a request's signature was refused
        self.nonces = {}  # nonce -> (signature, status, reply) of requests handled
        self.down = False
        self.unsigned = False  # reply without signature headers
        self.wrong_key = None  # sign replies with this key instead
        self.tamper = None  # fn(status, headers, body) -> (status, headers, body)
        self.unbound = False  # sign bound to some other request's signature
        self.lose = {}  # path -> how many replies to drop after handling the request
        self.busy = {}  # path -> how many 409 in_progress to answer first
        self.offline = None  # {"version", "nonce", "credentials"} served to state reports
        self.uses = {}  # (credential, step) -> use, as uploaded
        self.wrong_codes = 0
        self.timeouts = []  # timeout_ms the device gave each call
        self.n = 0
        self.command = None  # a remote {"id", "action"}: in every state reply until confirmed
        self.keep_command = False  # True: a confirmation does not clear it (it did not arrive)

    def queue(self, path, status, obj):
        self.queued.setdefault(path, []).append((status, obj))

    def __call__(self, method, url, headers, body, timeout_ms=None):
        self.timeouts.append(timeout_ms)
        if self.down:
            raise OSError(113, "EHOSTUNREACH")
        path = _path_of(url)
        obj = json.loads(body) if body else None
        self.requests.append((method, path, obj))
        why, nonce = self.check(method, path, headers, body)
        signed = True
        if why == "stale_request":
            status, reply = 401, {"status": "error", "error": why, "message": why, "server_time": self.now}
        elif why:
            self.rejected.append(why)
            status, reply = 401, {"status": "error", "error": why, "message": why}
            signed = False
        elif self.busy.get(path):
            self.busy[path] -= 1
            status, reply = 409, {"status": "error", "error": "in_progress", "retry_after": 1}
        elif nonce in self.nonces:  # the identical request again: the original outcome
            status, reply = self.nonces[nonce][1:]
        else:
            if self.queued.get(path):
                status, reply = self.queued[path].pop(0)
            else:
                status, reply = self.handle(path, obj)
            self.nonces[nonce] = (headers["Signature"], status, reply)
        if self.lose.get(path):
            self.lose[path] -= 1
            raise OSError(110, "ETIMEDOUT")  # handled, but the reply never arrives
        rbody = json.dumps(reply).encode()
        rh = {"content-type": "application/json"}
        if signed and not self.unsigned:
            reqsig = headers["Signature"]
            if self.unbound:
                reqsig = "sig1=:" + httpsig.b64encode(bytes(32)) + ":"
            sig = httpsig_server.sign_reply(self.wrong_key or self.key, self.door, status, rbody, reqsig, self.now)
            for k in sig:
                rh[k.lower()] = sig[k]
        if self.tamper is not None:
            status, rh, rbody = self.tamper(status, rh, rbody)
        return status, rh, rbody

    def check(self, method, path, headers, body):
        """('', nonce) when the request is validly signed, else (the 401 error code, None)."""
        try:
            ids, params, raw = httpsig_server.parse_signature_input(headers.get("Signature-Input"))
            digest = None
            if body:
                digest = headers.get("Content-Digest")
                if digest != httpsig.content_digest(body):
                    return "bad_signature", None
            comps = httpsig.request_components(method, path, digest)
            if ids != [c[0] for c in comps]:
                return "bad_signature", None
            if params.get("keyid") != self.door:
                return "unknown_door", None
            if params.get("alg") != httpsig.ALG or len(params.get("nonce", "")) < 32:
                return "bad_signature", None
            mac = httpsig_server.parse_signature(headers.get("Signature"))
            if not httpsig.equal(mac, httpsig.hmac_sha256(self.key, httpsig.signature_base(comps, raw))):
                return "bad_signature", None
            if abs(params.get("created", 0) - self.now) > 300:
                return "stale_request", None
            nonce = params["nonce"]
            seen = self.nonces.get(nonce)
            if seen is not None and seen[0] != headers["Signature"]:
                return "replayed_request", None
            if headers.get("Content-Type") != "application/json":
                return "bad_signature", None
        except Exception:
            return "bad_signature", None
        return "", nonce

    def handle(self, path, obj):
        if path == "/api/v1/otp/request":
            self.n += 1
            self.challenge = "ch" + str(self.n)
            self.action = obj["action"]
            self.attempts_left = 5
            return 200, {
                "status": "success",
                "challenge_id": self.challenge,
                "expires_in": 120,
                "digits": self.digits,
                "recipients": 1,
            }
        if path == "/api/v1/otp/verify":
            if obj.get("challenge_id") != self.challenge or self.challenge is None:
                return 404, {"status": "error", "error": "unknown_challenge", "message": "unknown challenge"}
            if obj.get("code") != self.code:
                self.attempts_left -= 1
                if self.attempts_left <= 0:
                    self.challenge = None
                return 403, {
                    "status": "error",
                    "error": "wrong_code",
                    "message": "wrong code",
                    "attempts_left": self.attempts_left,
                }
            self.challenge = None
            return 200, {"status": "success", "action": self.action}
        if path == "/api/v1/state":
            reply = {"status": "ok", "server_time": self.now}
            c = self.command
            if obj.get("event") == "remote" and c is not None and obj.get("command") == c["id"]:
                if not self.keep_command:
                    self.command = c = None
            if c is not None:
                reply["command"] = dict(c)
            o = self.offline
            if o is not None and obj.get("offline_version") != o["version"]:
                reply["offline"] = o
            return 200, reply
        if path == "/api/v1/offline/uses":
            n = 0
            for u in obj["uses"]:
                k = (u["credential"], u["step"])
                if k not in self.uses:
                    self.uses[k] = u
                    n += 1
            self.wrong_codes += obj.get("wrong_codes", 0)
            return 200, {"status": "ok", "accepted": n}
        return 404, {"status": "error", "error": "not_found", "message": "no route"}

    def paths(self):
        return [p for _m, p, _b in self.requests]

    def offer_offline(self, secrets, version=1, nonce="0123456789abcdef0123456789abcdef"):
        """Serve offline credentials: secrets = {id: raw TOTP secret}, encrypted for transit."""
        creds = []
        for cid in sorted(secrets):
            pad = httpsig.hmac_sha256(self.key, b"smartdoor-offline-v1|" + nonce.encode() + b"|" + cid.encode())
            raw = secrets[cid]
            enc = bytes(raw[i] ^ pad[i] for i in range(len(raw)))
            creds.append({"id": cid, "label": "Phone " + cid, "secret": binascii.hexlify(enc).decode()})
        self.offline = {"version": version, "nonce": nonce, "credentials": creds}


class Rig:
    """A machine wired to fakes, with its own ms clock; network jobs run synchronously at
    each tick through the real client.Exchange rules (as the simulator does)."""

    def __init__(self, server=None, wifi=True, diagnostics=None, store=None, start=True, now=1000, **kw):
        self.server = server or FakeServer()
        self.now = now
        self.wall = [EPOCH]
        self.clock = Clock(lambda: self.wall[0])
        self.clock.set_epoch(EPOCH, "ntp")
        self.client = DoorClient(BASE, DOOR, KEY, self.clock, Counter())
        self.display = FakeDisplay()
        self.buzzer = FakeBuzzer()
        self.servo = FakeServo()
        self.store = store or MemStore()
        self.vault = Vault(self.store)
        self.wifi = [wifi]
        self.slept = []
        kw.setdefault("status_extra", lambda: {"firmware": "test", "uptime": 5})
        self.machine = DoorMachine(
            self.display,
            self.buzzer,
            self.servo,
            self.vault,
            self.clock,
            KEY,
            diagnostics=diagnostics,
            wifi_ok=lambda: self.wifi[0],
            **kw,
        )
        if start:
            self.machine.start(self.now)
            self.tick()

    def _sleep(self, ms):
        self.slept.append(ms)
        self.now = ticks.add(self.now, ms)
        self.wall[0] += ms // 1000

    def tick(self):
        m = self.machine
        m.tick(self.now)
        job = m.take_job(self.now)
        while job is not None:
            ex = self.client.exchange(job.kind, job.pairs, self.now, job.deadline_ms)
            res = client_run(ex, self.server, lambda: self.now, self._sleep)
            m.finish(job, res, self.now)
            job = m.take_job(self.now)

    def press(self, keys):
        for k in keys:
            self.machine.key(k, self.now)
            self.tick()

    def run(self, ms, step=10):
        """Let ms pass, ticking every step ms."""
        while ms > 0:
            d = min(ms, step)
            ms -= d
            self.now = ticks.add(self.now, d)
            self.tick()

    def run_until(self, state, limit=60000, step=1):
        """Tick step by step until the machine is in state; the ms it took."""
        t = 0
        while self.machine.state != state:
            assert t < limit, "never reached " + state
            t += step
            self.now = ticks.add(self.now, step)
            self.tick()
        return t

    def state(self):
        return self.machine.state

    def text(self):
        return self.display.text()

    def to_entry(self, action_key="*", person=""):
        self.press(action_key + person + "#")
        self.run(2100)
        assert self.state() == "entry", self.text()


def last_path(server, path):
    for _m, p, obj in reversed(server.requests):
        if p == path:
            return obj
    return None


# --- tests ------------------------------------------------------------------------------
REQ = "/api/v1/otp/request"
VER = "/api/v1/otp/verify"
STATE = "/api/v1/state"
USES = "/api/v1/offline/uses"
TOTP_KEY = b"12345678901234567890"


def reports(server, event=None):
    return [b for _m, p, b in server.requests if p == STATE and (event is None or b.get("event") == event)]


def test_boot_goes_to_safe_state_and_reports_it():
    r = Rig(reset_cause="wdt")
    assert r.state() == "ready"
    assert "Press # or *" in r.text()
    assert r.buzzer.calls == ["startup"]
    assert r.servo.calls == ["lock"] and r.machine.door == "locked"
    boot = reports(r.server, "boot")
    assert boot == [{"state": "locked", "firmware": "test", "uptime": 5, "reset_cause": "wdt", "event": "boot"}], (
        r.server.requests
    )
    assert json.loads(r.store.text)["door"] == "locked"


def test_safe_state_last_restores_the_kept_state():
    store = MemStore({"door": "unlocked"})
    r = Rig(store=store, safe_state="last")
    assert r.servo.calls == ["unlock"] and r.machine.door == "unlocked"
    r2 = Rig(store=MemStore({"door": "unlocked"}))  # default: locked whatever was kept
    assert r2.servo.calls == ["lock"]


def test_unlock_flow():
    r = Rig()
    r.press("*")
    assert r.state() == "person" and r.display.lines == ("Your number:", "none? press #")
    assert r.server.paths() == [STATE]  # the boot report only: nothing asked yet
    r.press("#")  # no number: the door's shared codes
    assert r.state() == "sent"
    assert r.display.lines == ("OTP Sent!", "Check Email")
    assert ("Sending OTP...", "to unlock") in r.display.history
    assert last_path(r.server, REQ) == {"action": "unlock"}
    r.run(2100)
    assert r.state() == "entry"
    r.press("1234")
    assert r.display.lines[1] == "****__"
    r.press("56")  # sixth digit submits
    assert r.servo.calls == ["lock", "unlock"]
    assert "action" in r.buzzer.calls
    assert r.display.lines[0] == "Door Unlocked"
    assert r.state() == "done"
    assert last_path(r.server, VER) == {"challenge_id": "ch1", "code": "123456"}
    assert last_path(r.server, STATE) == {"state": "unlocked", "firmware": "test", "uptime": 5, "event": "change"}
    assert r.machine.last_report.kind == "ok"
    assert r.server.rejected == []
    assert json.loads(r.store.text)["door"] == "unlocked"
    r.run(3100)
    assert r.state() == "ready"


def test_deadlines_request_15s_others_8s():
    r = Rig()
    r.to_entry()
    r.press("123456")
    by_path = {}
    for (_m, p, _b), t in zip(r.server.requests, r.server.timeouts):
        by_path.setdefault(p, t)
    assert by_path[REQ] == 15000 and by_path[VER] == 8000 and by_path[STATE] == 8000


def test_lock_flow():
    r = Rig()
    r.to_entry("#")
    assert r.display.lines[0] == "Lock code:"
    r.press("123456")
    assert r.servo.calls == ["lock", "lock"]
    assert r.display.lines[0] == "Door Locked"
    assert last_path(r.server, STATE)["state"] == "locked"


def test_wrong_code_shows_attempts_left():
    r = Rig()
    r.to_entry()
    r.press("111111")
    assert r.state() == "message"
    assert r.display.lines == ("Wrong code", "4 tries left")
    assert r.buzzer.calls[-1] == "error"
    assert r.servo.calls == ["lock"]
    r.run(3100)
    assert r.state() == "entry"
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"]


def test_bad_reply_signature_never_moves_servo():
    r = Rig()
    r.to_entry()
    r.server.wrong_key = bytes(32)
    r.press("123456")
    assert r.servo.calls == ["lock"]
    assert r.display.lines[0] == "Server untrusted"


def test_unsigned_error_reply_is_bad_signature():
    r = Rig()
    r.to_entry()
    r.server.unsigned = True
    r.press("123456")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.servo.calls == ["lock"]


def test_cancel_and_delete():
    r = Rig()
    r.to_entry()
    r.press("12")
    r.press("D")
    assert r.display.lines[1] == "*_____"
    r.press("C")
    assert r.state() == "ready"
    assert r.servo.calls == ["lock"]


def test_c_cancels_a_request_in_flight_and_its_result_is_ignored():
    r = Rig()
    m = r.machine
    m.key("*", r.now)  # no tick: the request is taken but not finished
    m.key("#", r.now)  # no number: the shared codes
    job = m.take_job(r.now)
    assert job.kind == "request" and r.state() == "sending"
    m.key("C", r.now)
    assert job.cancelled and r.state() == "ready"
    ok = client_run(r.client.exchange(job.kind, job.pairs, r.now, job.deadline_ms), r.server, lambda: r.now, r._sleep)
    m.finish(job, ok, r.now)
    assert r.state() == "ready" and r.display.lines == screens.ready()


def test_keys_typed_during_a_request_are_kept():
    r = Rig()
    m = r.machine
    m.key("*", r.now)
    m.key("#", r.now)  # no number: the shared codes
    job = m.take_job(r.now)
    for k in "123":
        m.key(k, r.now)  # the person types while the request runs
    res = client_run(r.client.exchange(job.kind, job.pairs, r.now, job.deadline_ms), r.server, lambda: r.now, r._sleep)
    m.finish(job, res, r.now)
    assert r.state() == "entry" and r.display.lines[1] == "***___"


def test_idle_timeout_30s():
    r = Rig()
    r.press("*#")
    r.run_until("entry")
    r.run(29999, step=1)
    assert r.state() == "entry"
    r.run(1)
    assert r.state() == "ready"


def test_stale_clock_resyncs_from_signed_reply_and_retries_once():
    r = Rig()
    r.clock.set_epoch(EPOCH - 3600, "ntp")  # an hour behind
    r.press("*#")
    assert r.state() == "sent", r.text()
    assert r.server.paths()[-2:] == [REQ, REQ]
    assert abs(r.clock.now() - EPOCH) <= 1 and r.clock.source == "server"


def test_unsigned_stale_reply_does_not_set_the_clock():
    r = Rig()
    r.clock.set_epoch(EPOCH - 3600, "ntp")
    r.server.unsigned = True
    r.press("*#")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.clock.now() == EPOCH - 3600


def test_lost_reply_resends_the_identical_request():
    r = Rig()
    r.to_entry()
    r.server.lose[VER] = 1
    before = len(r.server.requests)
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"], r.text()
    verifies = [b for _m, p, b in r.server.requests[before:] if p == VER]
    assert len(verifies) == 2 and r.server.rejected == []


def test_in_progress_waits_and_resends():
    r = Rig()
    r.server.busy[REQ] = 2
    r.press("*#")
    assert r.state() == "sent"
    assert r.slept == [1000, 1000]
    assert r.server.paths().count(REQ) == 3


def test_two_lost_replies_give_up_within_the_deadline():
    r = Rig()
    r.to_entry()
    r.server.lose[VER] = 2
    r.press("123456")
    assert r.machine.last_result.kind == "unreachable"
    assert r.display.lines == screens.unreachable()
    assert r.servo.calls == ["lock"]


def test_unreachable_server_without_offline_codes():
    r = Rig()
    r.server.down = True
    r.press("*#")
    assert r.machine.last_result.kind == "unreachable"
    assert r.display.lines == ("No server", "Try again later")
    assert r.buzzer.calls[-1] == "error"


def test_locking_works_offline_without_a_code():
    r = Rig()
    r.server.down = True
    r.press("##")
    assert r.servo.calls == ["lock", "lock"] and r.machine.door == "locked"
    assert r.display.lines == screens.done("lock", "(offline)")
    r.server.down = False
    r.run(RETRY_LATER)
    assert reports(r.server, "offline")[-1]["state"] == "locked"


RETRY_LATER = 31000


def offline_rig(**kw):
    r = Rig(**kw)
    r.server.offer_offline({"phone": TOTP_KEY})
    r.press("A")
    r.press("A")  # page 2: the signed state report brings the credentials
    assert r.display.lines[1] == "OK, offline: 1", r.text()
    r.press("C")
    return r


def code_at(epoch, key=TOTP_KEY):
    from doorlogic import totp

    return totp.hotp(key, epoch // 30)


def test_offline_code_unlocks_once_per_step_and_uses_are_uploaded():
    r = offline_rig()
    assert r.vault.creds[0][0] == "phone"
    r.server.down = True
    r.press("*#")
    assert r.state() == "offline" and r.display.lines == ("Offline code:", "______")
    r.press(code_at(r.clock.now()))
    assert r.servo.calls[-1] == "unlock" and r.display.lines == screens.done("unlock", "(offline)")
    r.run(3100)
    r.press("*#")
    r.press(code_at(r.clock.now()))  # the same step again: refused
    assert r.display.lines[0] == "Wrong code" and r.servo.calls.count("unlock") == 1
    r.server.down = False
    r.run(RETRY_LATER)
    assert list(r.server.uses) == [("phone", r.clock.now() // 30)]
    assert r.server.wrong_codes == 1
    assert r.vault.pending() is None
    assert reports(r.server, "offline")[-1]["state"] == "unlocked"


def test_offline_wrong_codes_escalate_and_a_reset_does_not_clear_them():
    r = offline_rig()
    r.server.down = True
    for _ in range(3):
        r.press("*#")
        r.press("000000")
        r.run(3100)
    r.press("*#")
    assert r.display.lines == screens.offline_wait(27), r.text()
    # a reset (new machine on the same flash) waits the whole 30 s again
    r2 = Rig(store=r.store, server=r.server)
    r2.press("*#")
    assert r2.display.lines == screens.offline_wait(30), r2.text()
    r2.run(30000)
    r2.press("*#")
    assert r2.state() == "offline"
    r2.press(code_at(r2.clock.now()))
    assert r2.servo.calls[-1] == "unlock"


def test_offline_needs_a_clock():
    r = offline_rig()
    r.server.down = True
    r.clock.source = None
    r.press("*#")
    assert r.display.lines == screens.offline_unavailable("Clock not set")


def test_wifi_down_goes_offline_without_a_request():
    r = offline_rig(wifi=True)
    n = len(r.server.requests)
    r.wifi[0] = False
    r.press("*")
    assert r.state() == "offline" and len(r.server.requests) == n


def test_heartbeat_and_auto_relock_and_door_sensor():
    r = Rig(heartbeat_s=60, relock_s=10)
    r.run(60000, step=100)
    assert len(reports(r.server, "heartbeat")) == 1
    r.machine.exit_pressed(r.now)
    r.tick()
    assert r.servo.calls[-1] == "unlock" and reports(r.server, "exit_button")
    r.machine.door_sensor(True, r.now)  # the door stands open: no relock
    r.run(15000, step=100)
    assert r.machine.door == "unlocked"
    r.machine.door_sensor(False, r.now)
    r.run(100)
    assert r.machine.door == "locked" and reports(r.server, "auto_relock")
    assert reports(r.server, "change")[0]["door_open"] is True


def test_background_report_waits_for_a_user_call_and_is_retried():
    r = Rig()
    r.server.down = True
    r.machine.exit_pressed(r.now)
    r.tick()
    assert r.machine._jobs and r.machine._jobs[0].tag == "exit_button"
    r.server.down = False
    r.run(RETRY_LATER, step=1000)
    assert reports(r.server, "exit_button")


def test_timers_across_the_tick_wrap_and_14_days():
    # starts a minute before time.ticks_ms wraps (2**30 ms) and runs 14 simulated days,
    # which crosses the wrap twice: every timer must keep firing
    r = Rig(now=ticks.add(0, -60000), heartbeat_s=3600, relock_s=5)
    day = 86400000
    for d in range(14):
        r.run(day, step=10000)
        r.machine.exit_pressed(r.now)  # unlock; auto-relock 5 s later
        r.run(6000, step=1000)
        assert r.machine.door == "locked", d
    beats = len(reports(r.server, "heartbeat"))
    assert 14 * 24 - 1 <= beats <= 14 * 24 + 1, beats
    r.press("*#")
    r.run_until("entry")
    r.run(30000, step=100)
    assert r.state() == "ready"


def test_uptime_is_small_and_right_after_14_days():
    t = ticks.add(0, -1000)
    up = ticks.Uptime(t)
    for _ in range(14 * 24 * 60):
        t = ticks.add(t, 60000)
        up.update(t)
    assert up.seconds == 14 * 86400
    assert up.seconds < (1 << 30)


def test_wifi_down_message_without_offline_codes():
    r = Rig(wifi=False)
    r.press("*")
    assert r.display.lines == screens.unreachable()
    assert r.server.requests == []


# --- a person at the keypad ---------------------------------------------------------------
NOT_ALLOWED = {"status": "error", "error": "not_allowed", "message": "Not allowed now"}


def test_a_person_types_their_number_after_the_action_key():
    r = Rig()
    r.press("*")
    assert r.display.lines == screens.person("") == ("Your number:", "none? press #")
    r.press("47A9D11")  # a letter is ignored, D deletes
    assert r.display.lines == ("Your number:", "4711  #=OK") and r.state() == "person"
    assert r.server.paths() == [STATE]  # nothing asked until # confirms
    r.press("#")
    assert last_path(r.server, REQ) == {"action": "unlock", "person": "4711"}
    assert r.state() == "sent"
    r.run(2100)
    r.press("123456")
    assert r.servo.calls == ["lock", "unlock"] and r.display.lines == screens.done("unlock")


def test_a_number_is_at_most_6_digits_and_c_or_idle_cancels_it():
    r = Rig()
    r.press("#1234567")
    assert r.display.lines == ("Your number:", "123456  #=OK")
    r.press("C")
    assert r.state() == "ready"
    r.press("*12")
    r.run(29999, step=1)
    assert r.state() == "person"
    r.run(1)
    assert r.state() == "ready" and REQ not in r.server.paths()


def test_a_refusal_reads_not_allowed_now_and_moves_nothing():
    r = Rig()
    r.server.queue(REQ, 403, NOT_ALLOWED)
    r.press("*4711#")
    assert r.display.lines == screens.not_allowed() == ("Not allowed now", "Ask an admin")
    assert r.buzzer.calls[-1] == "error" and r.servo.calls == ["lock"]
    r.run(3100)
    assert r.state() == "ready"


def test_a_door_without_shared_codes_asks_for_the_number_again():
    r = Rig()
    r.server.queue(REQ, 403, {"status": "error", "error": "person_required", "message": "Type your number"})
    r.press("##")
    assert r.display.lines == screens.number_needed() == ("Number needed", "Type it, then #")
    r.run(3100)
    assert r.state() == "person" and r.display.lines == screens.person("")
    r.press("4711#")
    assert last_path(r.server, REQ) == {"action": "lock", "person": "4711"} and r.state() == "sent"


def test_a_withdrawn_code_reads_as_expired():
    r = Rig()
    r.to_entry(person="4711")
    r.server.queue(VER, 410, {"status": "error", "error": "withdrawn", "message": "withdrawn"})
    r.press("123456")
    assert r.display.lines == screens.expired() and r.servo.calls == ["lock"]
    r.run(3100)
    assert r.state() == "ready"


# --- remote lock / unlock ---------------------------------------------------------------------
def remote_rig(action="unlock", **kw):
    """A door whose backend holds a remote command, delivered with the first heartbeat (60 s)."""
    kw.setdefault("heartbeat_s", 60)
    r = Rig(**kw)
    r.server.command = {"id": "c1", "action": action}
    r.run(60000, step=100)
    return r


def test_a_remote_unlock_is_carried_out_and_confirmed():
    r = remote_rig()
    assert r.servo.calls == ["lock", "unlock"] and r.machine.door == "unlocked"
    assert r.display.lines == screens.done("unlock", "(remote)") and r.buzzer.calls[-1] == "action"
    confirm = reports(r.server, "remote")
    assert confirm == [{"state": "unlocked", "firmware": "test", "uptime": 5, "event": "remote", "command": "c1"}]
    assert r.server.command is None
    kept = json.loads(r.store.text)
    assert kept["door"] == "unlocked" and kept["command"] == "c1"  # one flash write holds both


def test_a_command_delivered_again_is_not_carried_out_twice():
    # the backend did not take the confirmation, so the next state replies bring the command again
    r = Rig(heartbeat_s=60)
    r.server.command = {"id": "c1", "action": "unlock"}
    r.server.keep_command = True
    r.run(60000 + 12000, step=100)
    assert r.servo.calls == ["lock", "unlock"]
    confirms = reports(r.server, "remote")
    assert len(confirms) >= 3 and {c["command"] for c in confirms} == {"c1"}
    writes = r.store.writes
    r.run(10000, step=100)
    assert r.store.writes == writes  # nothing changed: nothing written


def test_the_identical_reply_to_a_resent_report_acts_once():
    r = Rig(heartbeat_s=60)
    r.server.command = {"id": "c1", "action": "lock"}
    r.server.lose[STATE] = 1  # the heartbeat is handled, its reply lost: the door resends it
    r.run(60000, step=100)
    assert r.servo.calls == ["lock", "lock"] and len(reports(r.server, "heartbeat")) == 2
    assert reports(r.server, "remote")[-1]["command"] == "c1" and r.server.command is None


def test_a_reset_before_the_confirmation_does_not_act_again():
    r = Rig(heartbeat_s=60, safe_state="last")
    r.server.command = {"id": "c1", "action": "unlock"}
    r.server.keep_command = True  # the confirmation never reaches the backend
    r.run(60000, step=100)
    assert r.servo.calls == ["lock", "unlock"]
    confirmed = len(reports(r.server, "remote"))
    # the board resets: a new machine on the same flash; the boot report's reply brings c1 again
    r2 = Rig(store=r.store, server=r.server, safe_state="last", start=False)
    r2.client._random.n = 1000  # fresh nonces, as os.urandom gives after a reset
    r2.machine.start(r2.now)
    r2.tick()
    assert r2.servo.calls == ["unlock"]  # the boot's safe state ("last"), not the command
    assert len(reports(r2.server, "remote")) == confirmed + 1
    assert reports(r2.server, "remote")[-1] == {
        "state": "unlocked",
        "firmware": "test",
        "uptime": 5,
        "event": "remote",
        "command": "c1",
    }
    r2.server.keep_command = False
    r2.run(6000, step=100)
    assert r2.servo.calls == ["unlock"] and r2.server.command is None


def test_a_new_command_after_a_confirmed_one_is_carried_out():
    r = remote_rig("lock")
    r.server.command = {"id": "c2", "action": "unlock"}
    r.run(5100, step=100)  # a command was seen lately: the door asks every 5 s
    assert r.servo.calls == ["lock", "lock", "unlock"] and r.server.command is None


def test_the_door_asks_every_5_s_for_2_minutes_after_a_command():
    r = remote_rig()
    before = len(reports(r.server, "heartbeat"))
    r.run(120000, step=100)
    fast = len(reports(r.server, "heartbeat")) - before
    assert 22 <= fast <= 25, fast
    r.run(120000, step=100)
    assert len(reports(r.server, "heartbeat")) - before - fast <= 3  # back to every 60 s


def test_a_remote_command_while_someone_types_keeps_their_screen():
    r = Rig(heartbeat_s=60)
    r.run(50000, step=100)
    r.to_entry()
    r.press("12")
    r.server.command = {"id": "c1", "action": "unlock"}
    r.run(10000, step=100)
    assert r.servo.calls == ["lock", "unlock"] and r.display.lines == ("Unlock code:", "**____")


def test_a_jammed_remote_command_is_confirmed_as_jammed():
    def stall():
        raise OSError("stall")

    r = Rig(heartbeat_s=60)
    r.servo.unlock = stall
    r.server.command = {"id": "c1", "action": "unlock"}
    r.run(60000, step=100)
    assert r.display.lines[0] == "Servo fault"
    assert reports(r.server, "remote")[-1]["state"] == "jammed" and r.server.command is None
    assert json.loads(r.store.text)["command"] == "c1"


def test_a_malformed_command_is_ignored():
    for bad in ({"id": 7, "action": "unlock"}, {"id": "c1", "action": "open"}, {"action": "unlock"}, {"id": ""}):
        r = Rig(heartbeat_s=60)
        r.server.command = bad
        r.run(60000, step=100)
        assert r.servo.calls == ["lock"] and reports(r.server, "remote") == [], bad


def test_screens_fit():
    for s in (
        screens.ready(),
        screens.sent(True),
        screens.wrong_code(1),
        screens.locked_out(3600),
        screens.rate_limited(900),
        screens.bad_signature(),
        screens.diag_net("192.168.100.200", -67),
        screens.diag_server("10.0.0.1", True, 12),
        screens.entry("unlock", 3, 10),
        screens.person("123456"),
        screens.not_allowed(),
        screens.number_needed(),
        screens.done("unlock", "(remote)"),
        screens.offline_wait(3600),
        screens.offline_unavailable("Clock not set"),
        screens.config_error("DOOR_SECRET is the example", 5),
    ):
        assert len(s[0]) <= 16 and len(s[1]) <= 16, s


def test_config_error_scrolls_the_whole_message():
    msg = "DOOR_SECRET: the example secret is refused"
    seen = ""
    for i in range(len(msg) + 3):
        seen += screens.config_error(msg, i)[1][0]
    assert msg in seen


def _run_all():
    # plain runner for MicroPython without a test harness: micropython test_statemachine_mp.py
    names = [n for n in sorted(globals()) if n.startswith("test_")]
    failed = 0
    for n in names:
        try:
            globals()[n]()
        except Exception as e:
            failed += 1
            print("FAIL", n, repr(e))
    print(str(len(names) - failed) + " passed, " + str(failed) + " failed")
    return failed


if __name__ == "__main__":
    sys.exit(1 if _run_all() else 0)
