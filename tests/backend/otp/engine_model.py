"""A reference model of one door in the code engine, written from the rules README.md and
docs/architecture.md state (section 3, "The code engine"), for test_engine_model.py.

It imports nothing from smartdoor: it says what the door must answer, not how the engine does
it. Time is whole seconds since the example began. Values are immutable, so the model can be
explored: a burst of verifies sent at once may interleave in many ways, and `verifies`
returns every outcome the rules allow (each verify is a few atomic steps: through the lockout
gate, planned and counted, compared and settled, the gate's memory updated).

The rules, as modelled:
- A request whose `created` is more than `skew` seconds from the server's clock: 401
  `stale_request`, nothing else happens.
- The lockout gate (one backend process's memory): a door seen locked out is refused from
  memory with 429 until its wait ends, except that once `gate_ttl` has passed since the last
  look one request goes through to the database. What the engine says about the door's lockout
  updates that memory (a lockout is remembered; anything else forgets it).
- Code requests are answered once per nonce: the identical request again gets the original
  reply. Otherwise: the door's lockout (429), then the request window (429 `rate_limited`),
  then, for a person, their grant (403 `not_allowed`, still taking a place in the window),
  then a new code that ends the live one.
- A door has at most one live code. A code ends *burned* once its attempts are spent, else
  *expired* once its time is up, else *superseded* by a new code, or *used*. The door
  remembers its last `keep_ended` ended codes (why a late verify fails).
- A verify of a code: a resend of an earlier verify (same nonce and signature) gets that
  verify's outcome again (409 `in_progress` while it is under way on the live code), with the
  time left of a lockout it started. A verify that was in flight while another one used its
  code up may have lost its outcome in that race: its resend may be answered afresh instead
  (which changes nothing: the code is no longer live). Otherwise the door's lockout (429), then
  the code: unknown (404), ended (410 with why), burned (410), expired (410, and it ends); else
  the attempt is counted against the code and as the door's next consecutive failure (with the
  lockout that failure starts) *before* the code is compared. A right code is then used up (200), resets the
  door's failures and lockout and counts a use of its grant; if another verify used it first:
  410 `used`. A wrong one: 429 if its failure started a lockout, else 410 `burned` if it was
  the code's last attempt, else 403 `wrong_code` with the attempts left.
- Every `failures_per_lockout` consecutive failures the door waits, from `lockout_base`
  doubling up to `lockout_max`; at `hard_failures` it refuses codes until an administrator
  clears it (429 `hard_lockout`, retry after `hard_retry_after`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

NEW = "<new>"  # the challenge id of a code the model expects the engine to make (filled in when seen)


@dataclass(frozen=True)
class Rules:
    """The limits the app is configured with, small so that every rule is reached in a few steps."""

    # a code's 2nd wrong attempt locks the door for 30 s, its 3rd burns it; the next code's 1st
    # locks for 45 s (60, capped), its 3rd starts the hard stop: all of it in a few steps
    max_attempts: int = 3
    failures_per_lockout: int = 2
    lockout_base: int = 30
    lockout_max: int = 45
    hard_failures: int = 6
    requests_per_window: int = 4
    window: int = 300
    ttl: int = 90  # outlasts a lockout: a code can be tried again once the wait is over
    skew: int = 120
    max_uses: int = 2  # the guest's grant
    keep_ended: int = 3  # ended codes a door remembers
    gate_ttl: int = 1  # the lockout gate lets one request re-check the database after this long
    hard_retry_after: int = 3600  # what a hard-locked door tells clients to wait

    def settings(self) -> dict:
        """The same limits as the app's settings."""
        return {
            "max_attempts_per_code": self.max_attempts,
            "failures_per_lockout": self.failures_per_lockout,
            "lockout_base_seconds": self.lockout_base,
            "lockout_max_seconds": self.lockout_max,
            "hard_lockout_failures": self.hard_failures,
            "max_requests_per_window": self.requests_per_window,
            "request_window_seconds": self.window,
            "code_ttl_seconds": self.ttl,
            "clock_skew_seconds": self.skew,
        }

    def wait_after(self, failures: int) -> int:
        """The wait a door's `failures`-th consecutive failure starts (0: none)."""
        if failures % self.failures_per_lockout:
            return 0
        wait = self.lockout_base
        for _ in range(failures // self.failures_per_lockout - 1):
            wait = min(wait * 2, self.lockout_max)
        return min(wait, self.lockout_max)


@dataclass(frozen=True)
class Reply:
    """What a client is told: HTTP status, `error` (None on success) and the fields that go with it."""

    status: int
    error: str | None = None
    attempts_left: int | None = None
    retry_after: int | None = None
    action: str | None = None
    challenge: str | None = None  # a code request's challenge id (NEW: one not seen before)

    def __str__(self) -> str:
        fields = [f"{k}={v}" for k, v in vars(self).items() if v is not None and k != "status"]
        return f"{self.status} {' '.join(fields)}"


def locked(retry_after: int) -> Reply:
    return Reply(429, "locked_out", retry_after=retry_after)


def ended_reply(status: str) -> Reply:
    return Reply(410, status)


STALE = Reply(401, "stale_request")
IN_PROGRESS = Reply(409, "in_progress", retry_after=1)
UNKNOWN = Reply(404, "unknown_challenge")
NOT_ALLOWED = Reply(403, "not_allowed")


@dataclass(frozen=True)
class Outcome:
    """A verify's outcome, kept with its code so that a resend gets it again."""

    reply: Reply
    until: int | None = None  # the end of the lockout this attempt started
    raced: bool = False  # in flight while another verify used the code: a resend may be answered afresh


IN_FLIGHT = Outcome(Reply(0, "in flight"))  # counted, not yet settled


@dataclass(frozen=True)
class Code:
    id: str
    value: str
    action: str
    expires_at: int
    grant: bool  # a guest's code: its use counts against the grant's maximum
    attempts: int = 0
    replies: tuple[tuple[str, Outcome], ...] = ()  # by nonce, sorted
    status: str | None = None  # how it ended; None while it is the live code

    def outcome(self, nonce: str) -> Outcome | None:
        return dict(self.replies).get(nonce)

    def with_outcome(self, nonce: str, outcome: Outcome) -> Code:
        return replace(self, replies=tuple(sorted({**dict(self.replies), nonce: outcome}.items())))


@dataclass(frozen=True)
class Gate:
    """The lockout gate's memory of this door."""

    until: int
    hard: bool
    checked_at: int


@dataclass(frozen=True)
class Door:
    rules: Rules
    now: int = 0
    failures: int = 0
    locked_until: int | None = None
    hard: bool = False
    requests: tuple[int, ...] = ()  # code requests inside the window
    live: Code | None = None
    ended: tuple[Code, ...] = ()  # oldest first
    uses: int = 0  # of the guest's grant
    ledger: tuple[tuple[str, Reply], ...] = ()  # code requests answered, by nonce
    gate: Gate | None = None

    # --- what a client can see of the door, compared with the database after every step ------

    def visible(self) -> dict:
        live = self.live
        return {
            "failures": self.failures,
            "hard": self.hard,
            "wait": max(0, self.locked_until - self.now) if self.locked_until is not None else 0,
            "requests": sorted(t for t in self.requests if t > self.now - self.rules.window),
            "live": (live.id, live.attempts) if live else None,
            "ended": [(c.id, c.status) for c in self.ended],
            "uses": self.uses,
        }

    # --- the pieces of the rules ---------------------------------------------------------------

    def lockout(self) -> Reply | None:
        if self.hard:
            return Reply(429, "hard_lockout", retry_after=self.rules.hard_retry_after)
        if self.locked_until is not None and self.locked_until > self.now:
            return locked(self.locked_until - self.now)
        return None

    def stale(self, created: int) -> bool:
        return self.now - created > self.rules.skew

    def through_gate(self) -> tuple[Reply | None, Door]:
        gate = self.gate
        if gate is None or gate.until <= self.now:
            return None, self
        if self.now - gate.checked_at > self.rules.gate_ttl:
            return None, replace(self, gate=replace(gate, checked_at=self.now))
        if gate.hard:
            return Reply(429, "hard_lockout", retry_after=self.rules.hard_retry_after), self
        return locked(max(1, gate.until - self.now)), self

    def remembering(self, reply: Reply) -> Door:
        """The gate learns from what the engine said about the door."""
        if reply.error in ("locked_out", "hard_lockout"):
            assert reply.retry_after is not None
            gate = Gate(self.now + reply.retry_after, reply.error == "hard_lockout", self.now)
            return replace(self, gate=gate)
        return replace(self, gate=None)

    def end_status(self, code: Code) -> str | None:
        """How the live code has ended by now on its own, if it has."""
        if code.attempts >= self.rules.max_attempts:
            return "burned"
        if code.expires_at <= self.now:
            return "expired"
        return None

    def ending_live(self, status: str, code: Code | None = None) -> Door:
        """The live code (or `code`, a later state of it) joins the ended ones."""
        code = code or self.live
        assert code is not None
        ended = (*self.ended, replace(code, status=status))[-self.rules.keep_ended :]
        return replace(self, live=None, ended=ended)

    def find(self, challenge: str) -> Code | None:
        if self.live and self.live.id == challenge:
            return self.live
        return next((c for c in self.ended if c.id == challenge), None)

    def replacing(self, code: Code) -> Door:
        """`code` (live or ended) with its new replies."""
        if self.live and self.live.id == code.id:
            return replace(self, live=code)
        return replace(self, ended=tuple(code if c.id == code.id else c for c in self.ended))

    def counted_failure(self) -> tuple[Door, Reply | None, int | None]:
        """One more consecutive failure: the door after it, and the lockout it starts (reply, end)."""
        failures = self.failures + 1
        if failures >= self.rules.hard_failures:
            hard = Reply(429, "hard_lockout", retry_after=self.rules.hard_retry_after)
            return replace(self, failures=failures, hard=True), hard, None
        if wait := self.rules.wait_after(failures):
            until = self.now + wait
            return replace(self, failures=failures, locked_until=until), locked(wait), until
        return replace(self, failures=failures), None, None

    # --- operations ----------------------------------------------------------------------------

    def advanced(self, seconds: int) -> Door:
        return replace(self, now=self.now + seconds)

    def cleared(self) -> Door:
        """An administrator's clear-lockout (the gate's memory is another process's: untouched)."""
        return replace(self, failures=0, locked_until=None, hard=False)

    def swept(self) -> Door:
        """The expiry sweeper: a live code past its time ends (burned, if it was)."""
        if self.live is None or self.live.expires_at > self.now:
            return self
        status = self.end_status(self.live)
        assert status is not None
        return self.ending_live(status)

    def request_code(self, *, nonce: str, created: int, action: str, who: str | None) -> tuple[Reply, Door]:
        """`who`: None (a shared code), "guest" (the person with the grant of `max_uses`) or
        "stranger" (a keypad number nobody has). A new code's id and value are NEW until
        `issued` fills them in."""
        if self.stale(created):
            return STALE, self
        refused, door = self.through_gate()
        if refused:
            return refused, door
        if (answered := dict(door.ledger).get(nonce)) is not None:
            return answered, door
        reply, door = door._request(action=action, who=who)
        door = replace(door.remembering(reply), ledger=(*door.ledger, (nonce, reply)))
        return reply, door

    def _request(self, *, action: str, who: str | None) -> tuple[Reply, Door]:
        if refused := self.lockout():
            return refused, self
        window = [t for t in self.requests if t > self.now - self.rules.window]
        if len(window) >= self.rules.requests_per_window:
            return Reply(429, "rate_limited", retry_after=min(window) + self.rules.window - self.now), self
        door = replace(self, requests=(*window, self.now))
        if who == "stranger" or (who == "guest" and self.uses >= self.rules.max_uses):
            return NOT_ALLOWED, door
        if door.live is not None:
            door = door.ending_live(door.end_status(door.live) or "superseded")
        code = Code(NEW, NEW, action, self.now + self.rules.ttl, grant=who == "guest")
        return Reply(200, challenge=NEW), replace(door, live=code)

    def issued(self, challenge: str, value: str) -> Door:
        """The new code the engine made: its id (from the reply) and value (from the mail)."""
        assert self.live is not None and self.live.id == NEW
        ledger = tuple((n, replace(r, challenge=challenge) if r.challenge == NEW else r) for n, r in self.ledger)
        return replace(self, live=replace(self.live, id=challenge, value=value), ledger=ledger)

    def verifies(self, sent: Iterable[Verify]) -> set[Possibility]:
        """Every outcome the rules allow for these verifies sent at once (one: exactly one)."""
        return _explore(self, tuple(_Running(v) for v in sent), {})


@dataclass(frozen=True)
class Verify:
    nonce: str
    created: int
    challenge: str
    code: str


@dataclass(frozen=True)
class Possibility:
    replies: tuple[Reply, ...]  # in the order the verifies were given
    comparisons: tuple[tuple[str, bool], ...]  # (challenge, right), sorted
    door: Door


# --- a verify, step by step --------------------------------------------------------------------


@dataclass(frozen=True)
class _Running:
    verify: Verify
    phase: str = "arrive"  # arrive → plan → (consume | settle) → tell the gate → done
    reply: Reply | None = None
    until: int | None = None  # a lockout its attempt started
    compared: bool | None = None  # the comparison it made, if any


def _explore(door: Door, running: tuple[_Running, ...], seen: dict) -> set[Possibility]:
    key = (door, running)
    if key in seen:
        return seen[key]
    if all(r.phase == "done" for r in running):
        replies = tuple(r.reply for r in running)
        comparisons = tuple(sorted((r.verify.challenge, r.compared) for r in running if r.compared is not None))
        found = {Possibility(replies, comparisons, door)}  # type: ignore[arg-type]
    else:
        found = set()
        for i, r in enumerate(running):
            if r.phase != "done":
                for after, stepped in _step(door, r, running):
                    found |= _explore(after, (*running[:i], stepped, *running[i + 1 :]), seen)
    seen[key] = found
    return found


def _step(door: Door, r: _Running, running: tuple[_Running, ...]) -> list[tuple[Door, _Running]]:
    """One atomic step of one verify: what it may lead to."""
    v = r.verify
    if r.phase == "arrive":
        if door.stale(v.created):
            return [(door, replace(r, phase="done", reply=STALE))]
        refused, door = door.through_gate()
        if refused:
            return [(door, replace(r, phase="done", reply=refused))]
        return [(door, replace(r, phase="plan"))]
    if r.phase == "plan":
        return _plan(door, r)
    if r.phase == "consume":
        live = door.live
        if live is None or live.id != v.challenge:  # another verify used it first
            return [(door, replace(r, phase="gate", reply=ended_reply("used")))]
        ok = Reply(200, action=live.action)
        racing = {o.verify.nonce for o in running if o.verify.challenge == v.challenge} - {v.nonce}
        replies = tuple((n, replace(o, raced=True) if n in racing else o) for n, o in live.replies)
        used = replace(live, replies=replies).with_outcome(v.nonce, Outcome(ok))
        door = replace(door.cleared(), uses=door.uses + live.grant).ending_live("used", used)
        return [(door, replace(r, phase="gate", reply=ok))]
    if r.phase == "settle":
        assert r.reply is not None
        code = door.find(v.challenge)
        if code is not None:
            raced = code.status is not None  # used while this one was comparing
            door = door.replacing(code.with_outcome(v.nonce, Outcome(r.reply, r.until, raced)))
        return [(door, replace(r, phase="gate"))]
    assert r.phase == "gate" and r.reply is not None
    return [(door.remembering(r.reply), replace(r, phase="done"))]


def _plan(door: Door, r: _Running) -> list[tuple[Door, _Running]]:
    code = door.find(r.verify.challenge)
    stored = code.outcome(r.verify.nonce) if code else None
    if stored is not None and stored.reply == IN_FLIGHT.reply:
        if code is not None and code.status is None:
            return [(door, replace(r, phase="gate", reply=IN_PROGRESS))]
        return [_afresh(door, r, code)]  # the mark of a verify that raced the code's use
    if stored is not None:
        reply = stored.reply
        if reply.error == "locked_out" and stored.until is not None:
            reply = locked(max(1, stored.until - door.now))
        again = (door, replace(r, phase="gate", reply=reply))
        return [again, _afresh(door, r, code)] if stored.raced else [again]
    return [_afresh(door, r, code)]


def _afresh(door: Door, r: _Running, code: Code | None) -> tuple[Door, _Running]:
    """A verify that is not a resend (or one answered as if it were not)."""
    v, rules = r.verify, door.rules
    if refused := door.lockout():
        return door, replace(r, phase="gate", reply=refused)
    if code is None:
        return door, replace(r, phase="gate", reply=UNKNOWN)
    if code.status is not None:
        return door, replace(r, phase="gate", reply=ended_reply(code.status))
    if status := door.end_status(code):
        if status == "expired":
            door = door.ending_live(status)
        return door, replace(r, phase="gate", reply=ended_reply(status))
    # count first: the attempt, and the failure it would be, before any comparison
    counted = replace(code, attempts=code.attempts + 1).with_outcome(v.nonce, IN_FLIGHT)
    door, lockout, until = replace(door, live=counted).counted_failure()
    if v.code == code.value:
        return door, replace(r, phase="consume", compared=True)
    left = rules.max_attempts - counted.attempts
    if lockout is not None:
        reply = lockout
    elif left == 0:
        reply = Reply(410, "burned", attempts_left=0)
    else:
        reply = Reply(403, "wrong_code", attempts_left=left)
    return door, replace(r, phase="settle", reply=reply, until=until, compared=False)
