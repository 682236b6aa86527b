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

import json

from doorlogic import httpsig, screens
from doorlogic.client import DoorClient
from doorlogic.clock import Clock
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
        return bytes([self.n % 256]) * size


def _path_of(url):
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    slash = url.find("/", start)
    return url[slash:] if slash >= 0 else "/"


class FakeServer:
    """A tiny Smart Door backend as a transport callable. It checks each request's
    signature like the real one and signs every reply with httpsig.sign_reply.
    queue(path, status, obj) overrides the next reply for a path; unsigned / tamper /
    down / wrong_key simulate attacks and outages."""

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
        self.nonces = []
        self.down = False
        self.unsigned = False  # reply without signature headers
        self.wrong_key = None  # sign replies with this key instead
        self.tamper = None  # fn(status, headers, body) -> (status, headers, body)
        self.unbound = False  # sign bound to some other request's signature
        self.n = 0

    def queue(self, path, status, obj):
        self.queued.setdefault(path, []).append((status, obj))

    def __call__(self, method, url, headers, body):
        if self.down:
            raise OSError(113, "EHOSTUNREACH")
        path = _path_of(url)
        if method == "GET" and path == "/api/v1/time":
            self.requests.append((method, path, None))
            return 200, {"content-type": "application/json"}, json.dumps({"epoch": self.now}).encode()
        obj = json.loads(body) if body else None
        self.requests.append((method, path, obj))
        why = self.check(method, path, headers, body)
        if why:
            self.rejected.append(why)
            status, reply = 401, {"status": "error", "error": why, "message": why}
        elif self.queued.get(path):
            status, reply = self.queued[path].pop(0)
        else:
            status, reply = self.handle(path, obj)
        rbody = json.dumps(reply).encode()
        rh = {"content-type": "application/json"}
        if not self.unsigned:
            reqsig = headers["Signature"]
            if self.unbound:
                reqsig = "sig1=:" + httpsig.b64encode(bytes(32)) + ":"
            signed = httpsig.sign_reply(self.wrong_key or self.key, self.door, status, rbody, reqsig, self.now)
            for k in signed:
                rh[k.lower()] = signed[k]
        if self.tamper is not None:
            status, rh, rbody = self.tamper(status, rh, rbody)
        return status, rh, rbody

    def check(self, method, path, headers, body):
        """'' when the request is validly signed, else the 401 error code."""
        try:
            ids, params, raw = httpsig.parse_signature_input(headers.get("Signature-Input"))
            digest = None
            if body:
                digest = headers.get("Content-Digest")
                if digest != httpsig.content_digest(body):
                    return "bad_signature"
            comps = httpsig.request_components(method, path, digest)
            if ids != [c[0] for c in comps]:
                return "bad_signature"
            if params.get("keyid") != self.door:
                return "unknown_door"
            if params.get("alg") != httpsig.ALG or len(params.get("nonce", "")) < 32:
                return "bad_signature"
            mac = httpsig.parse_signature(headers.get("Signature"))
            if not httpsig.equal(mac, httpsig.hmac_sha256(self.key, httpsig.signature_base(comps, raw))):
                return "bad_signature"
            if abs(params.get("created", 0) - self.now) > 300:
                return "stale_request"
            if params["nonce"] in self.nonces:
                return "replayed_request"
            self.nonces.append(params["nonce"])
            if headers.get("Content-Type") != "application/json":
                return "bad_signature"
        except Exception:
            return "bad_signature"
        return ""

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
            return 200, {"status": "ok"}
        return 404, {"status": "error", "error": "not_found", "message": "no route"}


class Rig:
    """A machine wired to fakes, with its own ms clock."""

    def __init__(self, server=None, wifi=True, diagnostics=None, **kw):
        self.server = server or FakeServer()
        self.now = 1000
        self.wall = [EPOCH]
        self.clock = Clock(lambda: self.wall[0])
        self.client = DoorClient(BASE, DOOR, KEY, self.server, self.clock, Counter())
        self.display = FakeDisplay()
        self.buzzer = FakeBuzzer()
        self.servo = FakeServo()
        self.wifi = [wifi]
        self.machine = DoorMachine(
            self.display,
            self.buzzer,
            self.servo,
            self.client,
            diagnostics=diagnostics,
            wifi_ok=lambda: self.wifi[0],
            status_extra=lambda: {"firmware": "test", "uptime": 5},
            **kw,
        )
        self.machine.start(self.now)

    def press(self, keys):
        for k in keys:
            self.machine.key(k, self.now)
            self.machine.tick(self.now)

    def run(self, ms, step=10):
        """Let ms pass, ticking every step ms."""
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + step)
            self.machine.tick(self.now)

    def run_until(self, state, limit=60000, step=1):
        """Tick step by step until the machine is in state; the time it got there."""
        end = self.now + limit
        while self.machine.state != state:
            assert self.now < end, "never reached " + state
            self.now += step
            self.machine.tick(self.now)
        return self.now

    def state(self):
        return self.machine.state

    def text(self):
        return self.display.text()

    def to_entry(self, action_key="*"):
        self.press(action_key)
        self.run(2100)
        assert self.state() == "entry", self.text()


def last_path(server, path):
    for _m, p, obj in reversed(server.requests):
        if p == path:
            return obj
    return None


# --- tests ------------------------------------------------------------------------------
def test_ready_screen_at_start():
    r = Rig()
    assert r.state() == "ready"
    assert "Press # or *" in r.text()
    assert r.buzzer.calls == ["startup"]


def test_unlock_flow():
    r = Rig()
    r.press("*")
    assert r.state() == "sent"
    assert r.display.lines == ("OTP Sent!", "Check Email")
    assert ("Sending OTP...", "to unlock") in r.display.history
    assert last_path(r.server, "/api/v1/otp/request") == {"action": "unlock"}
    r.run(2100)
    assert r.state() == "entry"
    r.press("1234")
    assert r.display.lines[1] == "****__"
    assert "1" not in r.display.lines[1]
    r.press("56")  # sixth digit submits
    assert r.servo.calls == ["unlock"]
    assert "action" in r.buzzer.calls
    assert r.display.lines[0] == "Door Unlocked"
    assert r.state() == "done"
    assert last_path(r.server, "/api/v1/otp/verify") == {"challenge_id": "ch1", "code": "123456"}
    assert last_path(r.server, "/api/v1/state") == {"state": "unlocked", "firmware": "test", "uptime": 5}
    assert r.machine.last_report.kind == "ok"
    assert r.server.rejected == []
    r.run(3100)
    assert r.state() == "ready"


def test_lock_flow():
    r = Rig()
    r.to_entry("#")
    assert r.display.lines[0] == "Lock code:"
    r.press("123456")
    assert r.servo.calls == ["lock"]
    assert r.display.lines[0] == "Door Locked"
    assert last_path(r.server, "/api/v1/state")["state"] == "locked"


def test_wrong_code_shows_attempts_left():
    r = Rig()
    r.to_entry()
    r.press("111111")
    assert r.state() == "message"
    assert r.display.lines == ("Wrong code", "4 tries left")
    assert r.buzzer.calls[-1] == "error"
    assert r.servo.calls == []
    r.run(3100)
    assert r.state() == "entry"
    assert r.display.lines[1] == "______"
    r.press("123456")
    assert r.servo.calls == ["unlock"]


def test_bad_reply_signature_never_moves_servo():
    r = Rig()
    r.to_entry()
    r.server.wrong_key = bytes(32)
    r.press("123456")
    assert r.servo.calls == []
    assert r.display.lines[0] == "Server untrusted"
    assert r.buzzer.calls[-1] == "error"


def test_unsigned_error_reply_is_bad_signature():
    r = Rig()
    r.to_entry()
    r.server.unsigned = True
    r.press("123456")
    assert r.machine.last_result.kind == "bad_signature"
    assert r.servo.calls == []
    assert r.display.lines[0] == "Server untrusted"


def test_cancel_and_delete():
    r = Rig()
    r.to_entry()
    r.press("12")
    r.press("D")
    assert r.display.lines[1] == "*_____"
    r.press("C")
    assert r.state() == "ready"
    assert r.servo.calls == []


def test_idle_timeout_30s():
    r = Rig()
    r.press("*")
    r.run_until("entry")
    r.run(29999, step=1)
    assert r.state() == "entry"
    r.run(1)
    assert r.state() == "ready"
    assert r.servo.calls == []
    # a key restarts the timeout
    r.to_entry()
    r.run(20000)
    r.press("1")
    r.run(29000)
    assert r.state() == "entry"
    r.run(1000)
    assert r.state() == "ready"


def test_unreachable_server():
    r = Rig()
    r.server.down = True
    r.press("*")
    assert r.machine.last_result.kind == "unreachable"
    assert r.display.lines == ("No server", "Try again later")
    assert r.buzzer.calls[-1] == "error"


def test_wifi_down():
    r = Rig(wifi=False)
    r.press("*")
    assert r.display.lines[0] == "WiFi down"
    assert r.server.requests == []


def test_screens_fit():
    for s in (
        screens.ready(),
        screens.sent(True),
        screens.wrong_code(1),
        screens.locked_out(3600),
        screens.rate_limited(900),
        screens.bad_signature(),
        screens.diag_net("192.168.100.200", -67),
        screens.diag_server("10.0.0.1", True),
        screens.entry("unlock", 3, 10),
        screens.no_config(),
    ):
        assert len(s[0]) <= 16 and len(s[1]) <= 16, s


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
