# Device side of the Smart Door protocol v1 (ARCHITECTURE.md §3). Pure logic: the HTTP
# transport, the clock and the random source are passed in, so the same code runs on the
# board (urequests), in the simulator and under pytest. Runs on CPython and MicroPython.
#
# transport(method, url, headers, body) -> (status, headers with lower-case names, body)
# and raises OSError when the server cannot be reached.
import binascii
import json

from doorlogic import httpsig

PATH_TIME = "/api/v1/time"
PATH_REQUEST = "/api/v1/otp/request"
PATH_VERIFY = "/api/v1/otp/verify"
PATH_STATE = "/api/v1/state"
PATH_OFFLINE_USES = "/api/v1/offline/uses"

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


class Result:
    """kind: one of the kinds above; status: HTTP status (0 when none); data: the reply's
    JSON object ({} when none). attempts_left / retry_after / error / message are lifted
    out of data for convenience (None when absent)."""

    def __init__(self, kind, status=0, data=None, message=None):
        self.kind = kind
        self.status = status
        self.data = data if isinstance(data, dict) else {}
        d = self.data
        self.error = d.get("error")
        self.message = message if message is not None else d.get("message")
        self.attempts_left = _int_or_none(d.get("attempts_left"))
        self.retry_after = _int_or_none(d.get("retry_after"))

    def __repr__(self):
        return "Result(" + self.kind + ", " + str(self.status) + ", " + repr(self.data) + ")"


def _int_or_none(v):
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def compact_json(pairs):
    """Compact JSON object from a list of (key, value) pairs of str/int/bool/None. Built by
    hand: older MicroPython json.dumps has no separators argument, and a list keeps the
    key order fixed on every port."""
    return ("{" + ",".join(json.dumps(k) + ":" + json.dumps(v) for k, v in pairs) + "}").encode()


def _split_url(base_url):
    """'http://h:8000/x/' -> ('http://h:8000', '/x'): the path prefix is part of @path."""
    base = base_url.rstrip("/")
    start = base.find("://")
    start = start + 3 if start >= 0 else 0
    slash = base.find("/", start)
    if slash < 0:
        return base, ""
    return base[:slash], base[slash:]


class DoorClient:
    def __init__(self, base_url, door_id, secret_key_bytes, transport, clock, random_bytes):
        self._origin, self._prefix = _split_url(base_url)
        self.door_id = door_id
        self._key = secret_key_bytes
        self._transport = transport
        self.clock = clock
        self._random = random_bytes

    # --- public API -------------------------------------------------------------------
    def sync_time(self):
        """GET /api/v1/time (unsigned) and set the clock. True when it worked. The time is
        not authenticated; a forged one can only make our own requests fail as stale."""
        path = self._prefix + PATH_TIME
        try:
            status, _h, body = self._transport("GET", self._origin + path, {}, None)
        except OSError:
            return False
        if status != 200:
            return False
        try:
            epoch = json.loads(body)["epoch"]
        except Exception:
            return False
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch <= 0:
            return False
        self.clock.set_epoch(epoch)
        return True

    def request_code(self, action):
        """Ask the backend to email a code for action ('lock'/'unlock')."""
        if action not in ("lock", "unlock"):
            return Result(ERROR, message="bad action")
        res = self._call(PATH_REQUEST, [("action", action)])
        if res.kind == OK:
            d = res.data
            st = d.get("status")
            digits = d.get("digits")
            if (
                st not in ("success", "partial_success")
                or not _is_str(d.get("challenge_id"))
                or isinstance(digits, bool)
                or not isinstance(digits, int)
                or not 4 <= digits <= 10
            ):
                return Result(ERROR, res.status, d, "bad reply")
            if st == "partial_success":
                res.kind = PARTIAL
        return res

    def verify(self, challenge_id, code):
        """Send the typed code. kind 'ok' means the backend accepted it; the caller must
        still check data['action'] is the action it asked for."""
        res = self._call(PATH_VERIFY, [("challenge_id", challenge_id), ("code", code)])
        if res.kind == OK:
            d = res.data
            if d.get("status") != "success" or d.get("action") not in ("lock", "unlock"):
                return Result(ERROR, res.status, d, "bad reply")
        return res

    def report_state(self, state, extra=None):
        """POST /api/v1/state. extra: optional dict with rssi / firmware / uptime."""
        pairs = [("state", state)]
        if extra:
            for name in ("rssi", "firmware", "uptime"):
                if extra.get(name) is not None:
                    pairs.append((name, extra[name]))
        res = self._call(PATH_STATE, pairs)
        if res.kind == OK and res.data.get("status") != "ok":
            return Result(ERROR, res.status, res.data, "bad reply")
        return res

    # --- internals --------------------------------------------------------------------
    def _call(self, path, pairs):
        if not getattr(self.clock, "synced", True):
            self.sync_time()  # best effort; the server says stale_request if we are off
        res = self._post(path, compact_json(pairs))
        if res.kind == ERROR and res.status == 401 and res.error == "stale_request":
            # our clock drifted: learn the time again and retry once (fresh nonce)
            if self.sync_time():
                res = self._post(path, compact_json(pairs))
        return res

    def _post(self, path, body):
        path = self._prefix + path
        nonce = binascii.hexlify(self._random(16)).decode()
        headers = httpsig.sign_request(self._key, self.door_id, "POST", path, body, self.clock.now(), nonce)
        headers["Content-Type"] = "application/json"
        try:
            status, rh, rbody = self._transport("POST", self._origin + path, headers, body)
        except OSError as e:
            return Result(UNREACHABLE, message=str(e))
        if rbody is None:
            rbody = b""
        elif isinstance(rbody, str):
            rbody = rbody.encode()
        rh = _lower(rh)
        if not httpsig.verify_reply(self._key, self.door_id, status, rh, rbody, headers["Signature"]):
            return Result(BAD_SIGNATURE, status)
        # only now is the reply trusted
        try:
            data = json.loads(rbody)
        except Exception:
            data = None
        if not isinstance(data, dict):
            return Result(ERROR, status, None, "bad reply")
        if 200 <= status < 300:
            return Result(OK, status, data)
        res = Result(ERROR, status, data)
        if res.retry_after is None and status in (429, 503):
            res.retry_after = _int_or_none(rh.get("retry-after"))
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


def _is_str(v):
    return isinstance(v, str) and 0 < len(v) <= 128


def _lower(headers):
    if not headers:
        return {}
    out = {}
    for k in headers:
        out[k.lower()] = headers[k]
    return out
