# The door's behaviour as an event-driven state machine. No hardware, no clock, no I/O of
# its own: the caller passes the time (ticks in ms; doorlogic.ticks arithmetic, so it wraps
# like time.ticks_ms) to every event, and performs the network calls the machine asks for:
#
#   job = machine.take_job(now)          # a Job (kind, pairs, deadline_ms) or None
#   ... run it (doorlogic.client.Exchange) while keys and ticks keep coming ...
#   machine.finish(job, result, now)     # ignored when job.cancelled (C pressed, preempted)
#
# The board's asyncio task and the simulator's thread both drive it. Runs on CPython and
# MicroPython.
#
# A person at the keypad: * (unlock) or # (lock), then their keypad number and # (the code
# is mailed to them alone, if a grant allows it now), or # alone for the door's shared codes.
# Offline the number is not asked: offline codes are per credential.
#
# Remote lock / unlock: a signed state reply may carry {"command": {"id", "action"}}. The door
# carries it out once per id (the id is kept in flash with the lock state, so neither the
# identical reply to a resent report nor a reset makes it act twice) and confirms it with a
# state report {"event": "remote", "command": id}. Commands come only with state replies, so
# the heartbeat is also the door's poll for them: every heartbeat_s (30 s by default), and
# every 5 s for 2 minutes after a command was seen, when a second one is likely to follow.
#
# Parts passed in (duck-typed): display.show(l0, l1); buzzer.startup/key/success/error/
# action(); servo.lock/unlock(); vault: doorlogic.offline.Vault (lock state and offline
# codes kept in flash); clock: doorlogic.clock.Clock. Options (kept as attributes of the
# same names): diagnostics() -> {ip, gateway, rssi}; wifi_ok() -> bool; status_extra() ->
# {rssi, firmware, uptime, heap} (None values left out); heartbeat_s; relock_s (0: no
# auto-relock); safe_state "locked" / "unlocked" / "last"; reset_cause (for the boot
# report); deadline_ms (verify, state report, offline uses).
#
# Written for the board's RAM: timings are private const()s (no name kept at run time),
# and the few options are kept under the names they are passed by.
from doorlogic import client as _c
from doorlogic import const, screens
from doorlogic.ticks import Timer

BOOT = "boot"
READY = "ready"  # "Press # or *"
SENDING = "sending"  # code request in flight
SENT = "sent"  # "OTP Sent!" shown briefly
PERSON = "person"  # typing the person's keypad number (after * or #)
ENTRY = "entry"  # typing the emailed code, masked
VERIFYING = "verifying"  # verify in flight
DONE = "done"  # "Door Locked" / "Door Unlocked" shown briefly
MESSAGE = "message"  # a failure message shown briefly
DIAG = "diag"  # network diagnostics pages (key A)
OFFLINE = "offline"  # typing an offline (TOTP) code

_SENT_MS = const(2000)  # "OTP Sent!"
_MESSAGE_MS = const(3000)  # a message, "Door Locked" / "Door Unlocked"
_IDLE_MS = const(30000)  # nothing typed this long: back to ready
_DIAG_MS = const(5000)
_REQUEST_DEADLINE_MS = const(15000)  # > the backend's 8 s mail bound + its answer, with margin
_DEADLINE_MS = const(8000)  # verify, state report, offline uses
_RETRY_MS = const(30000)  # background reports that could not be delivered go again after this
_KEPT_KEYS = const(8)  # keys typed during a request, replayed when it ends
_OFFLINE_DIGITS = const(6)  # also the longest keypad number
_FAST_POLL_MS = const(5000)  # the heartbeat while a remote command was seen lately ...
_FAST_FOR_MS = const(120000)  # ... this long ago


class Job:
    """One network call the machine wants: kind request/verify/state/uses, the body pairs
    (built when taken), the whole-call deadline. tag: what the result is for."""

    def __init__(self, kind, tag, deadline_ms, background):
        self.kind = kind
        self.tag = tag
        self.deadline_ms = deadline_ms
        self.background = background
        self.pairs = None
        self.cancelled = False


class DoorMachine:
    def __init__(
        self,
        display,
        buzzer,
        servo,
        vault,
        clock,
        key,
        diagnostics=None,
        wifi_ok=None,
        status_extra=None,
        heartbeat_s=30,
        relock_s=0,
        safe_state="locked",
        reset_cause=None,
        deadline_ms=_DEADLINE_MS,
    ):
        self.display = display
        self.buzzer = buzzer
        self.servo = servo
        self.vault = vault
        self.clock = clock
        self._key = key
        self.diagnostics = diagnostics
        self.wifi_ok = wifi_ok
        self.status_extra = status_extra
        self.heartbeat_s = heartbeat_s
        self.relock_s = relock_s
        self.safe_state = safe_state
        self.reset_cause = reset_cause
        self.deadline_ms = deadline_ms
        self.state = BOOT
        self.note = None  # shown under "Press # or *" instead of the help (e.g. a Wi-Fi fault)
        self.lines = ("", "")  # what the display was last told
        self.action = None  # "lock" / "unlock" while a flow is running
        self.digits = 6  # code length from the request reply
        self.door = None  # "locked" / "unlocked" / "jammed"
        self.door_open = None  # reed switch: None when there is none
        self.last_result = None  # Result of the last user call
        self.last_report = None  # Result of the last state report
        self._code = ""
        self._challenge = None
        self._after = READY  # where MESSAGE goes when its time is up
        self._jobs = []  # waiting Jobs, oldest first
        self.running = None  # the Job taken and not finished
        self._kept = ""  # keys typed while a request runs
        self._timer = Timer()  # the current screen's timeout
        self._heartbeat = Timer()
        self._relock = Timer()
        self._retry = Timer()  # background jobs wait for this after a failure
        self._wait = Timer()  # the wait after wrong offline codes
        self._fast = Timer()  # the short heartbeat after a remote command
        self._diag_info = {}
        self._diag_page = 0

    # --- events ---------------------------------------------------------------------------
    def start(self, now_ms):
        """Boot: the servo goes to the safe state (or the last one kept in flash when
        safe_state is "last"), and the boot is reported with the reset cause."""
        state = self.vault.door if self.safe_state == "last" else self.safe_state
        self._move("unlock" if state == "unlocked" else "lock", now_ms)
        self._wait.start(now_ms, self.vault.wait_left() * 1000)  # a reset restarts the wait
        self.buzzer.startup()
        self._heartbeat.start(now_ms, self.heartbeat_s * 1000)
        self._report("boot")
        self._to_ready()

    def key(self, k, now_ms):
        if not k:
            return
        self.buzzer.key()
        st = self.state
        if st == SENDING or st == VERIFYING:
            if k == "C":  # give up on the call: its result will be ignored
                self._cancel_user()
                self._to_ready()
            elif len(self._kept) < _KEPT_KEYS:
                self._kept += k
        elif st == READY:
            if k == "#":
                self._begin("lock", now_ms)
            elif k == "*":
                self._begin("unlock", now_ms)
            elif k == "A":
                self._diag(0, now_ms)
        elif st == SENT:
            self._to_entry(now_ms)  # typing straight away skips the rest of "OTP Sent!"
            self._entry_key(k, now_ms)
        elif st == ENTRY or st == OFFLINE or st == PERSON:
            self._entry_key(k, now_ms)
        elif st == DIAG:
            if k == "A" and self._diag_page == 0:
                self._diag(1, now_ms)
            else:
                self._cancel_user()
                self._to_ready()
        elif st == MESSAGE or st == DONE:
            self._leave_message(now_ms)

    def tick(self, now_ms):
        # every timer is polled here, every loop pass: a tick deadline left unpolled for
        # half the wrap period (6.2 days) would read as "not yet" again
        for t in (self._retry, self._wait, self._fast):
            if t.due(now_ms):
                t.stop()
        if self._timer.due(now_ms):  # the current screen's time is up
            self._timer.stop()
            st = self.state
            if st == SENT:
                self._to_entry(now_ms)
            elif st == ENTRY or st == OFFLINE or st == PERSON:
                self._to_ready()  # idle: nothing typed for _IDLE_MS
            elif st == MESSAGE or st == DONE:
                self._leave_message(now_ms)
            elif st == DIAG and self._diag_page == 0:
                self._diag(1, now_ms)
            elif st == DIAG:
                self._to_ready()
        if self._heartbeat.due(now_ms):
            self._heartbeat.start(now_ms, _FAST_POLL_MS if self._fast.at is not None else self.heartbeat_s * 1000)
            self._report("heartbeat")
        if self._relock.due(now_ms) and not self.door_open:
            self._relock.stop()
            if self.door == "unlocked":
                self._move("lock", now_ms)
                self._report("auto_relock")

    def door_sensor(self, is_open, now_ms):
        """The reed switch changed (True: the door stands open)."""
        if is_open != self.door_open:
            self.door_open = is_open
            self._report("change")

    def exit_pressed(self, now_ms):
        """The inside exit button: unlock locally, no code (it is inside)."""
        self._cancel_user()
        if self._move("unlock", now_ms):
            self._report("exit_button")
            self._message(screens.exit_button(), now_ms, done=True)

    # --- jobs -----------------------------------------------------------------------------
    def take_job(self, now_ms):
        """The next call to make (user calls first; background ones not while a retry wait
        runs), or None. Its body is built now, so a report carries the latest figures."""
        if self.running is not None:
            return None
        job = None
        for j in self._jobs:
            if not j.background:
                job = j
                break
        if job is None and self._jobs and self._retry.at is None:
            if self.wifi_ok is None or self.wifi_ok():
                job = self._jobs[0]
        if job is None:
            return None
        self._jobs.remove(job)
        if job.kind == "state":
            job.pairs = self._state_pairs(job.tag)
        elif job.kind == "uses":
            job.pairs = self.vault.pending()
            if job.pairs is None:
                return None
        self.running = job
        return job

    def finish(self, job, result, now_ms):
        # a background job is kept trying until delivered, except a heartbeat: the next
        # one says the same
        if job is self.running:
            self.running = None
        if job.cancelled:
            if job.background and job.tag != "heartbeat":
                self._queue(job)  # preempted by a user call: deliver it later
            return
        if result.kind != _c.UNREACHABLE:
            self._retry.stop()
            r = self.running
            if self.vault.pending() is not None and (r is None or r.kind != "uses"):
                for j in self._jobs:
                    if j.kind == "uses":
                        break
                else:
                    self._queue(Job("uses", None, self.deadline_ms, True))
        k = job.kind
        if k == "state":
            self.last_report = result
            d = result.data
            if result.kind == _c.OK and isinstance(d.get("offline"), dict):
                try:
                    self.vault.install(self._key, d["offline"])
                except (KeyError, ValueError, TypeError):
                    pass  # keep the credentials we had
            c = d.get("command")
            # the reply to a confirmation may still name its command: the next heartbeat asks again
            if (
                result.kind == _c.OK
                and isinstance(c, dict)
                and (job.tag != "remote" or c.get("id") != self.vault.data.get("command"))
            ):
                self._remote(c, now_ms)
        elif k == "uses" and result.kind == _c.OK:
            self.vault.uploaded(job.pairs)
        if job.background:
            if result.kind == _c.UNREACHABLE and job.tag != "heartbeat":
                self._queue(job)
                self._retry.start(now_ms, _RETRY_MS)
        elif k == "request":
            self._requested(result, now_ms)
        elif k == "verify":
            self._verified(result, now_ms)
        elif self.state == DIAG:  # the diagnostics' signed state report
            ok = result.kind == _c.OK
            codes = len(self.vault.creds) if ok else None
            self._show(screens.diag_server(self._diag_info.get("gateway"), ok, codes))
            self._timer.start(now_ms, _DIAG_MS)
        kept = self._kept
        self._kept = ""
        for ch in kept:
            self.key(ch, now_ms)

    def _queue(self, job):
        job.cancelled = False
        job.pairs = None
        self._jobs.append(job)

    def _user_job(self, kind, deadline_ms, pairs=None):
        r = self.running
        if r is not None and r.background:
            r.cancelled = True  # the person comes first; finish() queues it again
            self.running = None
        job = Job(kind, None, deadline_ms, False)
        job.pairs = pairs
        self._jobs.insert(0, job)

    def _cancel_user(self):
        r = self.running
        if r is not None and not r.background:
            r.cancelled = True
        self._jobs = [j for j in self._jobs if j.background]

    def _report(self, event):
        for j in self._jobs:
            if j.kind == "state" and (j.tag == event or event == "heartbeat"):
                return  # its body is built when it is sent: one waiting says it all
        self._jobs.append(Job("state", event, self.deadline_ms, True))

    def _state_pairs(self, event):
        pairs = [("state", self.door or "locked")]
        extra = {}
        if self.status_extra is not None:
            try:
                extra = self.status_extra()
            except Exception:
                pass
        for name, value in sorted(extra.items()):  # sorted: the same body on every port
            if value is not None:
                pairs.append((name, value))
        if event == "boot" and self.reset_cause:
            pairs.append(("reset_cause", self.reset_cause))
        if event:
            pairs.append(("event", event))
        if event == "remote":
            pairs.append(("command", self.vault.data.get("command")))
        if self.door_open is not None:
            pairs.append(("door_open", self.door_open))
        if self.vault.version is not None:
            pairs.append(("offline_version", self.vault.version))
        return pairs

    # --- transitions ----------------------------------------------------------------------
    def _show(self, screen):
        self.lines = screen
        self.display.show(screen[0], screen[1])

    def _to_ready(self):
        self.state = READY
        self.action = None
        self._code = ""
        self._challenge = None
        self._timer.stop()
        self._show(screens.ready(self.note))

    def refresh(self):
        """The note changed: show it now if the ready screen is up."""
        if self.state == READY:
            self._show(screens.ready(self.note))

    def _begin(self, action, now_ms):
        """* or #: the person's number is asked (online only)."""
        self.action = action
        if self.wifi_ok is not None and not self.wifi_ok():
            self._offline(now_ms)
            return
        self.state = PERSON
        self._code = ""
        self._show(screens.person(""))
        self._timer.start(now_ms, _IDLE_MS)

    def _to_entry(self, now_ms):
        self.state = ENTRY
        self._code = ""
        self._show(screens.entry(self.action, 0, self.digits))
        self._timer.start(now_ms, _IDLE_MS)

    def _entry_key(self, k, now_ms):
        if k == "C":
            self._to_ready()
            return
        st = self.state
        n = self.digits if st == ENTRY else _OFFLINE_DIGITS
        if "0" <= k <= "9":
            if len(self._code) < n:
                self._code += k
        elif k == "D":
            self._code = self._code[:-1]
        elif k == "#":
            if self._code or st == PERSON:  # no number: the door's shared codes
                self._submit(now_ms)
                return
        self._timer.start(now_ms, _IDLE_MS)  # any key restarts the idle timeout
        if st == PERSON:  # a number is confirmed with #, whatever its length
            self._show(screens.person(self._code))
        elif len(self._code) >= n:
            self._submit(now_ms)
        elif st == OFFLINE:
            self._show(screens.offline_entry(len(self._code)))
        else:
            self._show(screens.entry(self.action, len(self._code), self.digits))

    def _submit(self, now_ms):
        code = self._code
        self._code = ""
        if self.state == PERSON:
            self.state = SENDING
            self._timer.stop()
            self._show(screens.sending(self.action))
            pairs = [("action", self.action)]
            if code:
                pairs.append(("person", code))
            self._user_job("request", _REQUEST_DEADLINE_MS, pairs)
        elif self.state != OFFLINE:
            self.state = VERIFYING
            self._timer.stop()
            self._show(screens.verifying())
            self._user_job("verify", self.deadline_ms, [("challenge_id", self._challenge), ("code", code)])
        elif self.vault.check(code, self.clock.now()) is None:  # checked here: the backend is away
            wait = self.vault.wait_left()
            self._wait.start(now_ms, wait * 1000)
            self._message(screens.offline_wrong(wait), now_ms)
        elif self._move("unlock", now_ms):
            self._message(screens.done("unlock", "(offline)"), now_ms, done=True)
            self._report("offline")

    def _message(self, screen, now_ms, after=READY, done=False):
        """A message (error tone) or, done, a lock / unlock done (action tone), shown for
        a few seconds; then after (READY, or ENTRY to type the code again)."""
        if done:
            self.buzzer.action()
            self.state = DONE
        else:
            self.buzzer.error()
            self.state = MESSAGE
        self._after = after
        self._show(screen)
        self._timer.start(now_ms, _MESSAGE_MS)

    def _leave_message(self, now_ms):
        if self.state == MESSAGE and self._after == ENTRY and self._challenge:
            self._to_entry(now_ms)
        elif self.state == MESSAGE and self._after == PERSON:
            self._begin(self.action, now_ms)
        else:
            self._to_ready()

    def _move(self, action, now_ms, command=None):
        """Drive the servo; True when it moved. The state is kept in flash (rarely written:
        only when it changes), with the id of the remote command it carries out, if any;
        the auto-relock timer starts after an unlock."""
        moved = True
        try:
            if action == "unlock":
                self.servo.unlock()
            else:
                self.servo.lock()
            self.door = action + "ed"
        except Exception as e:
            self.door = "jammed"
            moved = False
            self._message(screens.servo_fault(str(e)), now_ms)
            self._report("change")
        if self.door == "unlocked" and self.relock_s:
            self._relock.start(now_ms, self.relock_s * 1000)
        else:
            self._relock.stop()
        if moved or command:
            try:
                self.vault.save_door(self.door, command)
            except OSError:
                pass  # a full or failing flash must not keep the door from working
        return moved

    def _remote(self, command, now_ms):
        """A remote lock / unlock from a signed state reply: carried out once per id, then
        confirmed (again, if the backend sends an id already carried out: the confirmation
        was lost, or a reset came before it)."""
        try:
            cid = command["id"]
            action = command["action"]
        except KeyError:
            return
        if not isinstance(cid, str) or not 0 < len(cid) <= 32 or action not in ("lock", "unlock"):
            return
        self._fast.start(now_ms, _FAST_FOR_MS)
        if self._heartbeat.left(now_ms) > _FAST_POLL_MS:
            self._heartbeat.start(now_ms, _FAST_POLL_MS)
        if cid != self.vault.data.get("command"):
            st = self.state  # (a person in the middle of something keeps their screen)
            if self._move(action, now_ms, cid) and (st == READY or st == DONE or st == MESSAGE):
                self._message(screens.done(action, "(remote)"), now_ms, done=True)
        self._report("remote")  # confirms the command carried out last: this one

    # --- results of user calls -------------------------------------------------------------
    def _requested(self, r, now_ms):
        self.last_result = r
        if r.kind == _c.OK or r.kind == _c.PARTIAL:
            self._challenge = r.data["challenge_id"]
            self.digits = r.data["digits"]
            self._code = ""
            self.state = SENT
            self.buzzer.success()
            self._show(screens.sent(r.kind == _c.PARTIAL))
            self._timer.start(now_ms, _SENT_MS)
        elif r.kind == _c.UNREACHABLE:
            self._offline(now_ms)
        else:
            self._fail(r, False, now_ms)

    def _verified(self, r, now_ms):
        self.last_result = r
        if r.kind != _c.OK:
            self._fail(r, True, now_ms)
            return
        action = self.action
        if r.data.get("action") != action:  # signed, but not what we asked for
            self._message(screens.bad_reply(), now_ms)
            return
        self._challenge = None
        if self._move(action, now_ms):
            self._message(screens.done(action), now_ms, done=True)
            self._report("change")

    def _fail(self, r, verifying, now_ms):
        kind = r.kind
        after = READY
        if kind == _c.UNREACHABLE:
            if self.wifi_ok is not None and not self.wifi_ok():
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
        elif kind == _c.EXPIRED or (verifying and r.error == "unknown_challenge"):
            screen = screens.expired()
        elif r.status == 403 and not verifying:  # a person's code: no grant allows it now
            if r.error == "person_required":  # the door gives codes to named people only
                screen = screens.number_needed()
                after = PERSON
            else:
                screen = screens.not_allowed()
        elif kind == _c.LOCKED_OUT:
            screen = screens.locked_out(None if r.error == "hard_lockout" else r.retry_after)
        elif kind == _c.RATE_LIMITED:
            screen = screens.rate_limited(r.retry_after)
        elif r.status == 503:
            screen = screens.server_busy()
        elif verifying:
            screen = screens.server_error(r.message or ("HTTP " + str(r.status)))
        else:
            screen = screens.send_failed(r.message or ("HTTP " + str(r.status)))
        if after == READY:
            self._challenge = None
        self._message(screen, now_ms, after)

    # --- offline (the backend cannot be reached) -------------------------------------------
    def _offline(self, now_ms):
        if self.action == "lock":  # locking needs no code
            if self._move("lock", now_ms):
                self._message(screens.done("lock", "(offline)"), now_ms, done=True)
                self._report("offline")
            return
        wait = (self._wait.left(now_ms) + 999) // 1000
        if not self.vault.creds:
            self._message(screens.unreachable(), now_ms)
        elif not self.clock.synced:
            self._message(screens.offline_unavailable("Clock not set"), now_ms)
        elif wait:
            self._message(screens.offline_wait(wait), now_ms)
        else:
            self.state = OFFLINE
            self._code = ""
            self._show(screens.offline_entry(0))
            self._timer.start(now_ms, _IDLE_MS)

    # --- diagnostics (key A): network info, then a signed state report -----------------------
    def _diag(self, page, now_ms):
        self.state = DIAG
        self._diag_page = page
        if page == 0:
            info = None
            if self.diagnostics is not None:
                try:
                    info = self.diagnostics()
                except Exception:
                    info = None
            self._diag_info = info if isinstance(info, dict) else {}
            self._show(screens.diag_net(self._diag_info.get("ip"), self._diag_info.get("rssi")))
            self._timer.start(now_ms, _DIAG_MS)
        else:
            self._show(screens.diag_server(self._diag_info.get("gateway"), None))
            self._timer.stop()
            self._user_job("state", self.deadline_ms)
