# Device side of the Smart Door protocol v1 (docs/architecture.md, section 2, with its additions:
# stale clock, lost replies, in-progress, offline credentials). Pure logic, no I/O: a
# DoorClient builds an Exchange (a signed request plus the rules for what to do with each
# outcome); the board's asyncio task or the simulator's thread performs the sends:
#
#   ex = client.exchange(kind, pairs, now_ms)
#   while ex.wait_ms is not None:               # None: finished, ex.result is set
#       sleep(ex.wait_ms)                        # 0 except after a signed 409 in_progress
#       try:   ex.replied(*transport(ex.method, ex.url, ex.headers, ex.body, ex.left(now)), now)
#       except OSError as e: ex.failed(e, now)
#
# The rules: a reply counts only when its signature verifies and is bound to this request
# (else BAD_SIGNATURE); a signed 401 stale_request sets the clock from its server_time and
# the request goes again once, freshly signed; a transport failure (the reply may be lost)
# resends the *identical* request once, which the backend answers with the original outcome;
# a signed 409 in_progress waits retry_after and resends it again; all within one deadline.
import binascii
import json

from doorlogic import const, httpsig
from doorlogic.ticks import add, diff

PATH_REQUEST = "/api/v1/otp/request"
PATH_VERIFY = "/api/v1/otp/verify"
PATH_STATE = "/api/v1/state"
PATH_USES = "/api/v1/offline/uses"
PATHS = {"request": PATH_REQUEST, "verify": PATH_VERIFY, "state": PATH_STATE, "uses": PATH_USES}
_STATE_V1 = const("state rssi firmware uptime")  # the fields a backend before these additions accepts

# result kinds
OK = "ok"
PARTIAL = "partial"
WRONG_CODE = "wrong_code"
EXPIRED = "expired"
LOCKED_OUT = "locked_out"
RATE_LIMITED = "rate_limited"
BAD_SIGNATURE = "bad_signature"
UNREACHABLE = "unreachable"
ERROR = "error"

_MIN_SEND_MS = const(300)  # not worth sending with less time left


class Result:
    """kind: one of the kinds above; status: HTTP status (0 when none); data: the reply's
    JSON object ({} when none); error / message / attempts_left / retry_after lifted out."""

    def __init__(self, kind, status=0, data=None, message=None):
        self.kind = kind
        self.status = status
        self.data = data if isinstance(data, dict) else {}
        d = self.data
        self.error = d.get("error")
        self.message = message if message is not None else d.get("message")
        self.attempts_left = _int(d.get("attempts_left"))
        self.retry_after = _int(d.get("retry_after"))

    def __repr__(self):
        return "Result(" + self.kind + ", " + str(self.status) + ", " + repr(self.data) + ")"


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def compact_json(pairs):
    """Compact JSON object from (key, value) pairs; the order is the list's on every port."""
    return ("{" + ",".join(json.dumps(k) + ":" + json.dumps(v) for k, v in pairs) + "}").encode()


class DoorClient:
    """url: the backend's base URL; key: the door's secret (bytes); random(n): n random
    bytes (os.urandom)."""

    def __init__(self, url, door_id, key, clock, random):
        # 'http://h:8000/x/' -> origin 'http://h:8000', prefix '/x': the prefix is part of @path
        base = url.rstrip("/")
        start = base.find("://")
        slash = base.find("/", start + 3 if start >= 0 else 0)
        self._origin, self._prefix = (base, "") if slash < 0 else (base[:slash], base[slash:])
        self.door_id = door_id
        self.key = key
        self.clock = clock
        self._random = random

    def exchange(self, kind, pairs, now_ms, deadline_ms):
        return Exchange(self, kind, pairs, now_ms, deadline_ms)


class Exchange:
    def __init__(self, client, kind, pairs, now_ms, deadline_ms):
        self._c = client
        self.kind = kind
        self.pairs = pairs
        self.method = "POST"
        self.path = client._prefix + PATHS[kind]
        self.url = client._origin + self.path
        self._end = add(now_ms, deadline_ms)  # ticks when the whole call must be over
        self._resent = False  # the one identical resend after a lost reply
        self._restale = False  # the one fresh retry after a stale clock
        self._compat = False  # the one retry with v1 fields for an older backend
        self.result = None
        self.wait_ms = 0
        self._sign(pairs)

    def _sign(self, pairs):
        c = self._c
        self.body = compact_json(pairs)
        nonce = binascii.hexlify(c._random(16)).decode()
        self.headers = httpsig.sign_request(c.key, c.door_id, "POST", self.path, self.body, c.clock.now(), nonce)
        self.headers["Content-Type"] = "application/json"

    def left(self, now_ms):
        return diff(self._end, now_ms)

    def _again(self, now_ms, wait_ms=0):
        # send again if the deadline leaves time for it, else finish with what we have
        if self.left(now_ms) - wait_ms < _MIN_SEND_MS:
            return False
        self.wait_ms = wait_ms
        return True

    def _done(self, result):
        self.result = result
        self.wait_ms = None

    def failed(self, exc, now_ms):
        """The transport raised (refused, reset, timed out): the reply may be lost."""
        if not self._resent and self._again(now_ms):
            self._resent = True
            return
        a = getattr(exc, "args", ())
        self._done(Result(UNREACHABLE, message=str(a[-1] if a else exc)[:40]))

    def replied(self, status, headers, body, now_ms):
        body = body or b""
        if isinstance(body, str):
            body = body.encode()
        h = {}
        for k in headers or ():
            h[k.lower()] = headers[k]
        c = self._c
        if not httpsig.verify_reply(c.key, c.door_id, status, h, body, self.headers["Signature"]):
            self._done(Result(BAD_SIGNATURE, status))
            return
        # only now is the reply trusted
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._done(Result(ERROR, status, None, "bad reply"))
            return
        # the time from a verified reply, unless NTP has set the clock: server_time in the
        # body, else the created parameter the backend signed (it verified: it parses)
        t = _int(data.get("server_time"))
        if t is None:
            t = httpsig.reply_created(c.door_id, h.get("signature-input"))
        if t > 0:
            c.clock.learn(t)
        err = data.get("error")
        if status == 401 and err == "stale_request" and not self._restale:
            self._restale = True
            t = _int(data.get("server_time"))
            if t:  # our clock is off: the backend's word wins, even over NTP (protocol 2.)
                c.clock.set_epoch(t, "server")
            if self._again(now_ms):
                self._sign(self.pairs)  # fresh nonce and created from the corrected clock
                return
        if status == 409 and err == "in_progress":
            wait = (_int(data.get("retry_after")) or 1) * 1000
            if self._again(now_ms, wait):
                return
        if status == 422 and self.kind == "state" and not self._compat:
            self._compat = True
            slim = [p for p in self.pairs if p[0] in _STATE_V1.split()]
            if len(slim) < len(self.pairs) and self._again(now_ms):
                self.pairs = slim
                self._sign(slim)
                return
        self._done(interpret(self.kind, status, data, h))


def interpret(kind, status, data, headers):
    """The Result of a verified reply to a request of kind."""
    if 200 <= status < 300:
        res = Result(OK, status, data)
        d = data
        st = d.get("status")
        if kind == "request":
            digits = _int(d.get("digits"))
            cid = d.get("challenge_id")
            if st not in ("success", "partial_success") or not isinstance(cid, str) or not 0 < len(cid) <= 128:
                return Result(ERROR, status, d, "bad reply")
            if digits is None or not 4 <= digits <= 10:
                return Result(ERROR, status, d, "bad reply")
            if st == "partial_success":
                res.kind = PARTIAL
        elif kind == "verify":
            if st != "success" or d.get("action") not in ("lock", "unlock"):
                return Result(ERROR, status, d, "bad reply")
        elif st != "ok":
            return Result(ERROR, status, d, "bad reply")
        return res
    res = Result(ERROR, status, data)
    if res.retry_after is None and status in (429, 503):
        try:
            res.retry_after = int(headers.get("retry-after"))
        except (TypeError, ValueError):
            pass
    err = res.error
    if status == 403 and err == "wrong_code":
        res.kind = WRONG_CODE
    elif status == 410:
        res.kind = EXPIRED
    elif status == 429:
        res.kind = LOCKED_OUT if err in ("locked_out", "hard_lockout") else RATE_LIMITED
    if res.message is None:
        res.message = err or ("HTTP " + str(status))
    return res


def run(ex, transport, now_ms, sleep_ms):
    """Performs an Exchange with a blocking transport(method, url, headers, body, timeout_ms)
    (the simulator and tests); returns its Result."""
    while ex.wait_ms is not None:
        if ex.wait_ms:
            sleep_ms(ex.wait_ms)
        try:
            status, headers, body = transport(ex.method, ex.url, ex.headers, ex.body, ex.left(now_ms()))
        except OSError as e:
            ex.failed(e, now_ms())
            continue
        ex.replied(status, headers, body, now_ms())
    return ex.result
