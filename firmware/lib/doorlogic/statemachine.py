# The door's behaviour as an event-driven state machine. No hardware, no clock of its own:
# the caller passes the time in milliseconds (time.ticks_ms() on the board, any monotonic
# ms counter elsewhere) to start(), key() and tick(). Network calls are blocking and are
# made from tick(), so "Sending OTP..." / "Verifying..." are on the display before the
# call starts. Runs on CPython and MicroPython.
#
# Duck-typed parts passed in:
#   display.show(line0, line1)
#   buzzer.startup() .key() .success() .error() .action()
#   servo.lock() .unlock()
#   client: doorlogic.client.DoorClient (request_code, verify, report_state, sync_time)
#   diagnostics() -> dict(ip, gateway, rssi[, server: bool])     (optional)
#   wifi_ok() -> bool                                             (optional)
#   status_extra() -> dict(rssi?, firmware?, uptime?) for report_state (optional)
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


try:
    from time import ticks_diff as _diff  # MicroPython: wrap-around safe
except ImportError:

    def _diff(a, b):
        return a - b


from doorlogic import client as _c
from doorlogic import screens

# state names (machine.state)
BOOT = "boot"
READY = "ready"  # "Press # or *"
SENDING = "sending"  # code request about to go / in flight
SENT = "sent"  # "OTP Sent!" shown briefly
ENTRY = "entry"  # typing the code, masked
VERIFYING = "verifying"  # verify about to go / in flight
DONE = "done"  # "Door Locked" / "Door Unlocked" shown briefly
MESSAGE = "message"  # a failure message shown briefly
DIAG = "diag"  # network diagnostics pages (key A)

SENT_MS = const(2000)
MESSAGE_MS = const(3000)
DONE_MS = const(3000)
IDLE_MS = const(30000)
DIAG_MS = const(5000)

DIGIT_KEYS = "0123456789"


class DoorMachine:
    def __init__(
        self,
        display,
        buzzer,
        servo,
        client,
        diagnostics=None,
        wifi_ok=None,
        status_extra=None,
        sent_ms=SENT_MS,
        message_ms=MESSAGE_MS,
        done_ms=DONE_MS,
        idle_ms=IDLE_MS,
        diag_ms=DIAG_MS,
        startup_sound=True,
    ):
        self.display = display
        self.buzzer = buzzer
        self.servo = servo
        self.client = client
        self._diagnostics = diagnostics
        self._wifi_ok = wifi_ok
        self._status_extra = status_extra
        self._sent_ms = sent_ms
        self._message_ms = message_ms
        self._done_ms = done_ms
        self._idle_ms = idle_ms
        self._diag_ms = diag_ms
        self._startup_sound = startup_sound
        self.state = BOOT
        self.lines = ("", "")  # what the display was last told
        self.action = None  # "lock" / "unlock" while a flow is running
        self.digits = 6  # code length from the request reply
        self.door = None  # "locked" / "unlocked" / "jammed" once we moved it
        self.last_result = None  # the client Result of the last network call
        self.last_report = None  # the Result of the last report_state
        self._code = ""
        self._challenge = None
        self._after = READY  # where MESSAGE goes when its time is up
        self._t_ms = None  # running timer: duration ...
        self._t_start = None  # ... and start (None: starts at the next tick)
        self._diag_page = 0
        self._diag_info = None
        self._diag_check = False

    # --- read-only views ----------------------------------------------------------------
    @property
    def typed(self):
        return len(self._code)

    # --- events -----------------------------------------------------------------------
    def start(self, now_ms):
        if self._startup_sound:
            self.buzzer.startup()
        self._to_ready()

    def key(self, k, now_ms):
        if not k:
            return
        self.buzzer.key()
        st = self.state
        if st == READY:
            if k == "#":
                self._begin("lock", now_ms)
            elif k == "*":
                self._begin("unlock", now_ms)
            elif k == "A":
                self._diag(0, now_ms)
        elif st == SENT:
            # typing straight away skips the rest of "OTP Sent!"
            self._to_entry(now_ms)
            self._entry_key(k, now_ms)
        elif st == ENTRY:
            self._entry_key(k, now_ms)
        elif st == DIAG:
            if k == "A" and self._diag_page == 0 and not self._diag_check:
                self._diag(1, now_ms)
            elif not self._diag_check:
                self._to_ready()
        elif st == MESSAGE or st == DONE:
            self._leave_message(now_ms)
        # SENDING / VERIFYING: a call is in flight; keys are ignored

    def tick(self, now_ms):
        st = self.state
        if st == SENDING:
            self._do_request()
            return
        if st == VERIFYING:
            self._do_verify()
            return
        if st == DIAG and self._diag_check:
            self._diag_server()
            return
        if self._t_ms is None:
            return
        if self._t_start is None:
            self._t_start = now_ms
            return
        if _diff(now_ms, self._t_start) >= self._t_ms:
            self._t_ms = None
            self._timeout(now_ms)

    # --- transitions ----------------------------------------------------------------------
    def _show(self, screen):
        self.lines = screen
        self.display.show(screen[0], screen[1])

    def _arm(self, ms, now_ms=None):
        # now_ms None: the timer starts at the next tick (after a blocking call we do not
        # know the time; a tick comes within one loop turn)
        self._t_ms = ms
        self._t_start = now_ms

    def _disarm(self):
        self._t_ms = None
        self._t_start = None

    def _to_ready(self):
        self.state = READY
        self.action = None
        self._code = ""
        self._challenge = None
        self._diag_check = False
        self._disarm()
        self._show(screens.ready())

    def _begin(self, action, now_ms):
        self.action = action
        if self._wifi_ok is not None and not self._wifi_ok():
            self._message(screens.wifi_down(), READY)
            return
        self.state = SENDING
        self._disarm()
        self._show(screens.sending(action))

    def _to_entry(self, now_ms):
        self.state = ENTRY
        self._code = ""
        self._show(screens.entry(self.action, 0, self.digits))
        self._arm(self._idle_ms, now_ms)

    def _entry_key(self, k, now_ms):
        if k == "C":
            self._to_ready()
            return
        if k in DIGIT_KEYS:
            if len(self._code) < self.digits:
                self._code += k
        elif k == "D":
            self._code = self._code[:-1]
        elif k == "#":
            if self._code:
                self._submit()
                return
        self._arm(self._idle_ms, now_ms)  # any key restarts the idle timeout
        if len(self._code) >= self.digits:
            self._submit()
            return
        self._show(screens.entry(self.action, len(self._code), self.digits))

    def _submit(self):
        self.state = VERIFYING
        self._disarm()
        self._show(screens.verifying())

    def _message(self, screen, after):
        self.buzzer.error()
        self.state = MESSAGE
        self._after = after
        self._show(screen)
        self._arm(self._message_ms)

    def _leave_message(self, now_ms):
        if self.state == MESSAGE and self._after == ENTRY and self._challenge:
            self._to_entry(now_ms)
        else:
            self._to_ready()

    def _timeout(self, now_ms):
        st = self.state
        if st == SENT:
            self._to_entry(now_ms)
        elif st == ENTRY:
            self._to_ready()  # idle: nothing typed for idle_ms
        elif st == MESSAGE or st == DONE:
            self._leave_message(now_ms)
        elif st == DIAG:
            if self._diag_page == 0:
                self._diag(1, now_ms)
            else:
                self._to_ready()

    # --- network steps (blocking, from tick) ---------------------------------------------
    def _do_request(self):
        r = self.client.request_code(self.action)
        self.last_result = r
        if r.kind == _c.OK or r.kind == _c.PARTIAL:
            self._challenge = r.data["challenge_id"]
            self.digits = r.data["digits"]
            self._code = ""
            self.state = SENT
            self.buzzer.success()
            self._show(screens.sent(r.kind == _c.PARTIAL))
            self._arm(self._sent_ms)
        else:
            self._fail(r, False)

    def _do_verify(self):
        code = self._code
        self._code = ""
        r = self.client.verify(self._challenge, code)
        code = None
        self.last_result = r
        if r.kind != _c.OK:
            self._fail(r, True)
            return
        action = self.action
        if r.data.get("action") != action:
            # signed, but not what we asked for: do nothing
            self._message(screens.bad_reply(), READY)
            return
        self._challenge = None
        try:
            if action == "unlock":
                self.servo.unlock()
                self.door = "unlocked"
            else:
                self.servo.lock()
                self.door = "locked"
        except Exception as e:
            self.door = "jammed"
            self._message(screens.servo_fault(str(e)), READY)
            self._report()
            return
        self.buzzer.action()
        self.state = DONE
        self._show(screens.done(action))
        self._arm(self._done_ms)
        self._report()

    def _report(self):
        extra = None
        if self._status_extra is not None:
            try:
                extra = self._status_extra()
            except Exception:
                extra = None
        try:
            self.last_report = self.client.report_state(self.door, extra)
        except Exception as e:  # never let a report break the door
            self.last_report = _c.Result(_c.ERROR, message=str(e))

    def _fail(self, r, verifying):
        kind = r.kind
        after = READY
        if kind == _c.UNREACHABLE:
            if self._wifi_ok is not None and not self._wifi_ok():
                screen = screens.wifi_down()
            else:
                screen = screens.unreachable()
        elif kind == _c.BAD_SIGNATURE:
            screen = screens.bad_signature()
        elif kind == _c.WRONG_CODE:
            left = r.attempts_left
            screen = screens.wrong_code(left)
            if left is not None and left > 0 and self._challenge:
                after = ENTRY
        elif kind == _c.EXPIRED:
            screen = screens.expired()
        elif kind == _c.LOCKED_OUT:
            screen = screens.locked_out(None if r.error == "hard_lockout" else r.retry_after)
        elif kind == _c.RATE_LIMITED:
            screen = screens.rate_limited(r.retry_after)
        elif r.status == 503:
            screen = screens.server_busy()
        elif verifying and r.error == "unknown_challenge":
            screen = screens.expired()
        elif verifying:
            screen = screens.server_error(r.message or ("HTTP " + str(r.status)))
        else:
            screen = screens.send_failed(r.message or ("HTTP " + str(r.status)))
        if after == READY:
            self._challenge = None
        self._message(screen, after)

    # --- diagnostics (key A) -----------------------------------------------------------------
    def _diag(self, page, now_ms):
        self.state = DIAG
        self._diag_page = page
        if page == 0:
            info = None
            if self._diagnostics is not None:
                try:
                    info = self._diagnostics()
                except Exception:
                    info = None
            self._diag_info = info if isinstance(info, dict) else {}
            self._show(screens.diag_net(self._diag_info.get("ip"), self._diag_info.get("rssi")))
            self._arm(self._diag_ms, now_ms)
        else:
            self._show(screens.diag_server(self._diag_info.get("gateway"), None))
            self._disarm()
            self._diag_check = True

    def _diag_server(self):
        self._diag_check = False
        server = self._diag_info.get("server")
        if server is None:
            try:
                server = bool(self.client.sync_time())  # GET /api/v1/time; resyncs too
            except Exception:
                server = False
        self._show(screens.diag_server(self._diag_info.get("gateway"), server))
        self._arm(self._diag_ms)
