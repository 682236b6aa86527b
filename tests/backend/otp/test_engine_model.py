"""The code engine against a reference model (engine_model.py), with hypothesis's stateful testing.

Random interleavings of code requests (lock and unlock; shared, a guest with a grant of a few
uses, a keypad number nobody has), right and wrong codes, verifies of older codes, identical
resends of earlier requests, clock advances, expiry sweeps, an administrator's clear-lockout,
and bursts of several verifies sent at once, run against the real app on the embedded database
(real socket) with a fake clock. After every step:

- every reply is one the model allows (status, error, attempts_left, retry_after, action;
  for a burst, one of the interleavings the model allows, each reply to its own request), and
  what the database shows of the door (failures, lockout, the live and ended codes, the request
  window, the grant's uses) is what the model has;
- a code is used at most once (one success per challenge, by one request) and the grant never
  exceeds its uses;
- comparisons, counted in `smartdoor.otp.codes.matches` itself, are exactly those of the attempts
  the model counts: never more than the limit per code, none while the door is locked out
  (the model counts none then), and the door's failures equal the wrong comparisons since the
  last success or clear.

Driven through the HTTP API in-process (SignedDevice, as the other tests), not the engine
functions: the replies a door gets come from more than the engine (the lockout gate answers
from memory, code requests are answered once per nonce by the ledger, domain errors become
statuses in api/errors.py), and a resend is only identical as a signed request.

Two tests share the machine: hypothesis's random runs, the same sequences on every run and sized
for CI (CI_BUDGET), and a fixed walk (WALK) that meets every rule of the model once, so that CI
checks each rule however few random sequences it can afford. A long local run with new random
sequences each time (-s prints how often each reply was met):
    .venv/bin/python -m pytest tests/backend/otp/test_engine_model.py -k allows -s \
        --hypothesis-profile engine-model-soak

Not modelled: more than one door or backend process (another process's lockout gate), a mail
that cannot be sent, codes withdrawn when a grant or person changes, grant schedules, the
original Arduino sketch's routes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from smartdoor.access import service as access
from smartdoor.doors.service import clear_lockout
from smartdoor.otp import codes
from smartdoor.otp.expiry import expire_overdue
from smartdoor.people import service as people
from tests.backend.otp.engine_model import NEW, Door, Possibility, Reply, Rules, Verify
from tests.conftest import SOAK_PROFILE, Harness, code_in

RULES = Rules()
REACHED: Counter[str] = Counter()  # what the replies were, over a run (printed at its end)
REQUEST, VERIFY = "/api/v1/otp/request", "/api/v1/otp/verify"
NOBODY = "999999"  # a keypad number no person has (numbers are given from 100 up)
ADVANCES = (1, 2, 30, 45, 3601)  # 3601: past every wait
UNKNOWN_CHALLENGE = "never-issued-0"


CI_BUDGET = settings(
    max_examples=25,
    stateful_step_count=30,
    derandomize=True,  # the same sequences on every run: CI is deterministic
    deadline=None,  # the embedded database's pace is not under test here
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _chosen_budget() -> settings:
    if settings.get_current_profile_name() == SOAK_PROFILE:  # a long local run: its own numbers
        return settings.get_profile(SOAK_PROFILE)
    return CI_BUDGET


@pytest.fixture
def comparisons(monkeypatch):
    """Every comparison of a typed code with a stored hash: (challenge id, right)."""
    seen: list[tuple[str, bool]] = []
    real = codes.matches

    def counting(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append((kwargs["challenge_id"], result))
        return result

    monkeypatch.setattr(codes, "matches", counting)
    return seen


@dataclass(frozen=True)
class Sent:
    """A signed request as sent, so the identical request can be sent again."""

    path: str
    body: bytes
    headers: dict
    nonce: str
    created: int
    verify: Verify | None = None  # a verify's content
    request: tuple[str, str | None] | None = None  # a code request's (action, who)
    payload: str = ""  # the first reply's body


def observed(response: httpx.Response) -> Reply:
    body = response.json()
    if "retry_after" in body:  # the header says the same
        assert response.headers["retry-after"] == str(body["retry_after"]), body
    return Reply(
        response.status_code,
        body.get("error"),
        body.get("attempts_left"),
        body.get("retry_after"),
        body.get("action"),
        body.get("challenge_id"),
    )


def _seconds(at: datetime, t0: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = (at - t0).total_seconds()
    assert seconds == int(seconds), at
    return int(seconds)


def visible_in(record: dict, *, t0: datetime, now: int, grant_id: str) -> dict:
    """What the database shows of the door, in the model's terms (Door.visible)."""
    pending = record.get("pending")
    until = record.get("locked_until")
    return {
        "failures": record.get("failures", 0),
        "hard": bool(record.get("hard_locked")),
        "wait": max(0, _seconds(until, t0) - now) if until is not None else 0,
        "requests": sorted(
            t for t in (_seconds(at, t0) for at in record.get("recent_requests") or []) if t > now - RULES.window
        ),
        "live": (pending["id"], pending["attempts"]) if pending else None,
        "ended": [(e["id"], e["status"]) for e in record.get("ended") or []],
        "uses": (record.get("grant_uses") or {}).get(grant_id, 0),
    }


def build_machine(h: Harness, loop: asyncio.AbstractEventLoop, compared: list) -> type[RuleBasedStateMachine]:
    """The state machine, bound to the running app (on `loop`; hypothesis runs in a thread)."""

    def call(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    class EngineVersusModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.t0 = h.clock.now()
            tag = secrets.token_hex(4)
            self.device = call(h.add_door(name=f"Model {tag}", recipients=[f"door-{tag}@example.com"]))
            self.door_address = f"door-{tag}@example.com"
            guest = call(
                people.add_person(
                    h.db, name=f"Guest {tag}", email=f"guest-{tag}@example.com", role="guest", now=self.t0
                )
            )
            self.guest_address, self.keypad = guest["email"], guest["keypad"]
            grant = call(
                access.add_grant(
                    h.db, person_id=guest["_id"], door_id=self.device.door_id, actions=["lock", "unlock"],
                    max_uses=RULES.max_uses, now=self.t0,
                )
            )  # fmt: skip
            self.grant_id = grant["_id"]
            self.doors: set[Door] = {Door(RULES)}  # every state the model allows so far (bursts branch)
            self.sent: list[Sent] = []
            self.issued: list[tuple[str, str]] = []  # (challenge, code), oldest first
            self.successes: dict[str, set[str]] = {}  # challenge → nonces that were told success
            self.compared_per_code: Counter[str] = Counter()
            self.wrong_since_reset = 0
            self.seen: dict | None = None  # the door's record after the last step that sent anything
            compared.clear()
            REACHED["(examples)"] += 1

        # --- helpers ---------------------------------------------------------------------------

        @property
        def now(self) -> int:
            return next(iter(self.doors)).now

        @property
        def live(self):
            return next(iter(self.doors)).live

        def send(self, path: str, payload: dict, **content) -> Sent:
            body = httpx.Request("POST", "/", json=payload).content
            nonce = secrets.token_hex(16)
            headers = self.device.sign("POST", path, body, nonce=nonce)
            return Sent(path, body, headers, nonce, self.now, **content)

        async def post(self, sent: Sent) -> httpx.Response:
            return await self.device.post(sent.path, raw=sent.body, headers=sent.headers)

        def record(self) -> dict:
            return call(h.db.doors.find_one({"_id": self.device.door_id}))

        def settle(self, allowed: list[tuple[Door, Possibility | None]], what: str, got) -> None:
            """Keeps the model states whose door matches the database's; fails if none does."""
            self.seen = self.record()
            seen = visible_in(self.seen, t0=self.t0, now=self.now, grant_id=self.grant_id)
            matching = {door for door, _ in allowed if door.visible() == seen}
            if not matching:
                shown = sorted({str(door.visible()) for door, _ in allowed})
                raise AssertionError(f"{what}: the database shows {seen}, the model allows {shown} (replies {got})")
            self.doors = matching

        def mailed_code(self, address: str) -> str:
            mail = next(m for m in h.sink.messages() if m["to"] == [address] and "Code:" in m["text"])
            return code_in(mail)

        # --- operations ------------------------------------------------------------------------

        def code_request(self, sent: Sent) -> None:
            assert sent.request is not None
            action, who = sent.request
            response = call(self.post(sent))
            got = observed(response)
            REACHED[f"code request: {got.status} {got.error or ''}"] += 1
            if not sent.payload:
                self.sent.append(replace(sent, payload=response.text))
            outcomes = [door.request_code(nonce=sent.nonce, created=sent.created, action=action, who=who)
                        for door in self.doors]  # fmt: skip
            matching = [after for reply, after in outcomes if _same(reply, got, self.issued)]
            assert matching, f"code request {sent.request}: got {got}, the model says {[str(r) for r, _ in outcomes]}"
            assert not compared, "a code request compared a code"
            if got.status == 200 and got.challenge not in {c for c, _ in self.issued}:
                body = response.json()
                assert (body["status"], body["expires_in"], body["digits"], body["recipients"]) == (
                    "success", RULES.ttl, 6, 1,
                )  # fmt: skip
                code = self.mailed_code(self.guest_address if who == "guest" else self.door_address)
                self.issued.append((got.challenge, code))
                matching = [door.issued(got.challenge, code) for door in matching]
            elif got.status == 200:  # the same reply again, to the same request
                assert response.text == sent.payload, "a resent code request got another reply"
            self.settle([(door, None) for door in matching], f"code request {sent.request}", got)

        def verifies(self, batch: list[Sent]) -> None:
            async def all_at_once():
                return await asyncio.gather(*(self.post(s) for s in batch))

            responses = call(all_at_once())
            got = tuple(observed(r) for r in responses)
            for g in got:
                REACHED[f"{'verify' if len(batch) == 1 else 'burst'}: {g.status} {g.error or ''}"] += 1
            made = list(compared)
            compared.clear()
            for sent, response in zip(batch, responses):
                if not sent.payload and sent.nonce not in {s.nonce for s in self.sent}:
                    self.sent.append(replace(sent, payload=response.text))
            verifies = [s.verify for s in batch]
            allowed = [(p.door, p) for door in self.doors for p in door.verifies(verifies)]  # type: ignore[arg-type]
            comparisons = tuple(sorted(made))
            fitting = [(d, p) for d, p in allowed if p.replies == got and p.comparisons == comparisons]
            if not fitting:
                choices = sorted({(tuple(map(str, p.replies)), p.comparisons) for _, p in allowed})
                raise AssertionError(
                    f"verifies {[(v.challenge, v.code, v.nonce[:6]) for v in verifies]}: got {tuple(map(str, got))} "
                    f"comparing {comparisons}; the model allows {choices}"
                )
            self.settle(fitting, "verifies", tuple(map(str, got)))
            # the invariants a reply alone cannot show
            for challenge, _ in made:
                self.compared_per_code[challenge] += 1
                assert self.compared_per_code[challenge] <= RULES.max_attempts, challenge
            for sent, reply in zip(batch, got):
                if reply.status == 200:
                    assert sent.verify is not None
                    told = self.successes.setdefault(sent.verify.challenge, set())
                    told.add(sent.nonce)
                    assert len(told) == 1, f"two requests were told {sent.verify.challenge} opened"
            # a right comparison was of the live code, which one of them then used up (and no code
            # is live after that, so every other attempt of the burst was counted before the use,
            # which reset them all)
            if any(right for _, right in made):
                self.wrong_since_reset = 0
            else:
                self.wrong_since_reset += len(made)

        def verify_of(self, challenge: str, code: str) -> Sent:
            payload = {"challenge_id": challenge, "code": code}
            sent = self.send(VERIFY, payload)
            return replace(sent, verify=Verify(sent.nonce, sent.created, challenge, code))

        def target(self, right: bool) -> Sent:
            """A verify of the live code (else the latest one), with the right or a wrong code."""
            live = self.live
            challenge, code = (live.id, live.value) if live else (self.issued or [(UNKNOWN_CHALLENGE, "123456")])[-1]
            return self.verify_of(challenge, code if right else wrong(code))

        # --- rules -----------------------------------------------------------------------------

        @initialize(action=st.sampled_from(["unlock", "lock"]), who=st.sampled_from([None, "guest"]))
        def a_code_is_asked_for_first(self, action: str, who: str | None) -> None:
            """So that most steps have a code to try."""
            self.request_a_code(action, who)

        @rule(action=st.sampled_from(["unlock", "lock"]), who=st.sampled_from([None, None, "guest", "stranger"]))
        def request_a_code(self, action: str, who: str | None) -> None:
            payload: dict = {"action": action}
            if who is not None:
                payload["person"] = self.keypad if who == "guest" else NOBODY
            self.code_request(self.send(REQUEST, payload, request=(action, who)))

        # No rule has a precondition on what the engine answered: a burst's replies depend on how
        # its requests interleave, and hypothesis must draw the same steps when it replays an example.

        @rule(right=st.booleans())
        def verify(self, right: bool) -> None:
            self.verifies([self.target(right)])

        @rule(times=st.integers(2, 4))
        def guess(self, times: int) -> None:
            """Wrong codes one after another, as someone guessing would type them."""
            for _ in range(times):
                self.verifies([self.target(False)])

        @rule(pick=st.integers(0, 1000), right=st.sampled_from([False, True]))
        def verify_an_older_code(self, pick: int, right: bool) -> None:
            older = self.issued[:-1] or [(UNKNOWN_CHALLENGE, "123456")]  # none yet: one never issued
            challenge, code = older[pick % len(older)]
            self.verifies([self.verify_of(challenge, code if right else wrong(code))])

        @rule(pick=st.integers(0, 1000))
        def resend(self, pick: int) -> None:  # there is one: the first step asks for a code
            sent = self.sent[-1 - pick % min(len(self.sent), 6)]  # mostly recent ones
            if sent.verify is not None:
                self.verifies([sent])
            else:
                self.code_request(sent)

        @rule(kinds=st.lists(st.sampled_from(["right", "wrong", "wrong", "old", "same", "resend"]), min_size=2,
                             max_size=4), pick=st.integers(0, 1000))  # fmt: skip
        def burst(self, kinds: list[str], pick: int) -> None:
            batch: list[Sent] = []
            earlier = [s for s in self.sent if s.verify is not None]
            for i, kind in enumerate(kinds):
                if kind == "same" and batch:  # the identical request twice at once
                    batch.append(batch[(pick + i) % len(batch)])
                elif kind == "resend" and earlier:
                    batch.append(earlier[-1 - (pick + i) % min(len(earlier), 4)])
                elif kind == "old" and len(self.issued) > 1:
                    challenge, code = self.issued[(pick + i) % (len(self.issued) - 1)]
                    batch.append(self.verify_of(challenge, code))
                else:
                    batch.append(self.target(kind == "right"))
            self.verifies(batch)

        @rule(seconds=st.sampled_from(ADVANCES))
        def advance_the_clock(self, seconds: int) -> None:
            h.clock.advance(seconds)
            self.doors = {door.advanced(seconds) for door in self.doors}

        @rule(moment=st.sampled_from(list(MOMENTS)), off=st.sampled_from([-1, 0, 1]))
        def wait_for(self, moment: str, off: int) -> None:
            """Right before, at or right after a moment a rule turns on (off-by-one bugs live there)."""
            at = MOMENTS[moment](next(iter(self.doors)), self.sent)
            if at is not None and at + off > self.now:
                self.advance_the_clock(at + off - self.now)

        @rule()
        def sweep_expired_codes(self) -> None:
            call(expire_overdue(h.db, now=h.clock.now(), max_attempts=RULES.max_attempts))
            self.settle([(door.swept(), None) for door in self.doors], "sweep", None)

        @rule()
        def administrator_clears_the_lockout(self) -> None:
            call(clear_lockout(h.db, door_id=self.device.door_id))
            self.wrong_since_reset = 0
            self.settle([(door.cleared(), None) for door in self.doors], "clear", None)

        # --- invariants ------------------------------------------------------------------------

        @invariant()
        def failures_are_the_wrong_comparisons_since_the_last_reset(self) -> None:
            """On the door's record as the last step left it (only requests change it)."""
            record = getattr(self, "seen", None)
            if record is None:
                return
            assert record.get("failures", 0) == self.wrong_since_reset
            assert (record.get("grant_uses") or {}).get(self.grant_id, 0) <= RULES.max_uses

        def teardown(self) -> None:
            if not hasattr(self, "device"):
                return
            successes = call(
                h.db.audit.find({"door": self.device.door_id, "event": "verify", "outcome": "success"}).to_list()
            )
            per_code = Counter(e["challenge"] for e in successes)
            assert all(n == 1 for n in per_code.values()), per_code
            assert sum(e.get("grant") == self.grant_id for e in successes) <= RULES.max_uses

    return EngineVersusModel


MOMENTS = {  # when, in the model's seconds (None: nothing to wait for)
    "the lockout ends": lambda door, sent: door.locked_until,
    "the code expires": lambda door, sent: door.live.expires_at if door.live else None,
    "a request leaves the window": lambda door, sent: (
        min((t for t in door.requests if t > door.now - RULES.window), default=door.now - RULES.window) + RULES.window
    ),
    "the last request goes stale": lambda door, sent: sent[-1].created + RULES.skew if sent else None,
}


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def _same(predicted: Reply, got: Reply, issued: list[tuple[str, str]]) -> bool:
    if predicted.challenge == NEW:  # a new code: any challenge id not seen before
        fresh = got.challenge is not None and got.challenge not in {c for c, _ in issued}
        return fresh and replace(predicted, challenge=None) == replace(got, challenge=None)
    return predicted == got


def _stop_the_expiry_sweeper(loop: asyncio.AbstractEventLoop) -> None:
    """The app's sweeper wakes on the real clock; here sweeps are steps of their own, so that
    each example is the same whatever the machine's pace."""
    for task in asyncio.all_tasks(loop):
        if getattr(task.get_coro(), "__qualname__", "") == "expiry_sweeper":
            task.cancel()


@pytest.fixture
async def engine_versus_model(make_harness, comparisons):
    """The state machine class, bound to a running app configured with the model's rules."""
    async with make_harness(**RULES.settings()) as h:
        loop = asyncio.get_running_loop()
        _stop_the_expiry_sweeper(loop)
        # whole seconds, and ahead of the real clock (FakeClock starts years ahead): the
        # database's TTL monitor (real time) must not purge the nonce ledger under the model's feet
        start = h.clock.now()
        assert start.microsecond == 0 and start > datetime.now(UTC) + timedelta(days=1), start
        REACHED.clear()
        yield build_machine(h, loop, comparisons)
        print("\nreplies reached:", *(f"{n:6} {what}" for what, n in sorted(REACHED.items())), sep="\n  ")


async def test_the_engine_does_what_the_model_allows(engine_versus_model):
    await asyncio.to_thread(run_state_machine_as_test, engine_versus_model, settings=_chosen_budget())


# A fixed walk that meets every rule of the model, so that CI checks each of them against the
# engine whatever examples hypothesis draws (comments: the reply the model predicts, with
# Rules(): 3 attempts a code, a wait every 2 failures, 30 s then 45 s, the hard stop at 6).
WALK: list[tuple[str, dict]] = [
    # a door guessed at: a lockout, then a burn
    ("request_a_code", {"action": "unlock", "who": None}),  # 200, code A
    ("verify", {"right": False}),  # 403 wrong_code, 2 attempts left
    ("verify", {"right": False}),  # 429 locked_out 30 s (the door's 2nd failure)
    ("verify", {"right": True}),  # 429, from the lockout gate's memory: nothing compared
    ("advance_the_clock", {"seconds": 2}),
    ("request_a_code", {"action": "lock", "who": None}),  # 429 locked_out 28 s: the gate let it re-check
    ("wait_for", {"moment": "the lockout ends", "off": -1}),
    ("verify", {"right": True}),  # 429 locked_out 1 s
    ("wait_for", {"moment": "the lockout ends", "off": 0}),
    ("verify", {"right": False}),  # 410 burned: A's 3rd attempt (the 3rd failure starts no wait)
    ("verify", {"right": True}),  # 410 burned, nothing compared
    # a guest's codes: superseded, raced, used up to the grant's maximum
    ("request_a_code", {"action": "unlock", "who": "guest"}),  # 200, code B to the guest alone
    ("request_a_code", {"action": "unlock", "who": "guest"}),  # 200, code C; B superseded
    ("verify_an_older_code", {"pick": 1, "right": True}),  # 410 superseded (B)
    ("burst", {"kinds": ["right", "right"], "pick": 0}),  # 200 and 410 used, in either order
    ("resend", {"pick": 0}),  # the same reply again (the burst's second one: 200 or 410 used)
    ("request_a_code", {"action": "unlock", "who": "guest"}),  # 200, code D
    ("verify", {"right": True}),  # 200: the grant's 2nd and last use
    ("verify", {"right": True}),  # 410 used
    ("resend", {"pick": 1}),  # 200 again: the resend of the verify that used D
    ("request_a_code", {"action": "unlock", "who": "stranger"}),  # 429 rate_limited: 4 in the window
    ("wait_for", {"moment": "a request leaves the window", "off": 0}),
    ("request_a_code", {"action": "unlock", "who": "guest"}),  # 403 not_allowed (it takes a place)
    # a code's time
    ("wait_for", {"moment": "a request leaves the window", "off": 1}),
    ("request_a_code", {"action": "lock", "who": None}),  # 200, code E
    ("wait_for", {"moment": "the code expires", "off": -1}),
    ("verify", {"right": True}),  # 200, its last second
    ("request_a_code", {"action": "unlock", "who": None}),  # 200, code F
    ("wait_for", {"moment": "the code expires", "off": 0}),
    ("verify", {"right": True}),  # 410 expired (this verify ends it)
    # the waits grow, then the hard stop
    ("request_a_code", {"action": "unlock", "who": None}),  # 200, code G
    ("guess", {"times": 2}),  # 403 wrong_code, then 429 locked_out 30 s
    ("wait_for", {"moment": "the lockout ends", "off": 0}),
    ("verify", {"right": False}),  # 410 burned (G's 3rd attempt, the door's 3rd failure)
    ("wait_for", {"moment": "a request leaves the window", "off": 1}),
    ("request_a_code", {"action": "unlock", "who": None}),  # 200, code H
    ("verify", {"right": False}),  # 429 locked_out 45 s: the 4th failure (60 s, capped)
    ("advance_the_clock", {"seconds": 45}),
    ("guess", {"times": 2}),  # 403 wrong_code, then 429 hard_lockout (the 6th failure; H burned)
    ("verify_an_older_code", {"pick": 0, "right": True}),  # 429 hard_lockout, from the gate's memory
    ("advance_the_clock", {"seconds": 2}),
    ("request_a_code", {"action": "unlock", "who": None}),  # 429 hard_lockout, from the database
    ("administrator_clears_the_lockout", {}),
    ("advance_the_clock", {"seconds": 2}),
    ("verify", {"right": True}),  # 410 burned (H)
    # the sweeper, a forgotten code, a stale resend
    ("request_a_code", {"action": "lock", "who": None}),  # 200, code I
    ("wait_for", {"moment": "the code expires", "off": 0}),
    ("sweep_expired_codes", {}),  # I ends expired
    ("verify", {"right": True}),  # 410 expired
    ("verify_an_older_code", {"pick": 0, "right": True}),  # 404: the door no longer remembers A
    ("wait_for", {"moment": "the last request goes stale", "off": 1}),
    ("resend", {"pick": 0}),  # 401 stale_request
]
EVERY_REPLY = {
    "code request: 200 ",
    "code request: 403 not_allowed",
    "code request: 429 locked_out",
    "code request: 429 rate_limited",
    "code request: 429 hard_lockout",
    "verify: 200 ",
    "verify: 401 stale_request",
    "verify: 403 wrong_code",
    "verify: 404 unknown_challenge",
    "verify: 410 burned",
    "verify: 410 expired",
    "verify: 410 superseded",
    "verify: 410 used",
    "verify: 429 locked_out",
    "verify: 429 hard_lockout",
    "burst: 200 ",
}


def walk(machine: RuleBasedStateMachine) -> None:
    for step, arguments in WALK:
        getattr(machine, step)(**arguments)
        machine.failures_are_the_wrong_comparisons_since_the_last_reset()  # type: ignore[attr-defined]
    machine.teardown()


async def test_a_walk_through_every_rule(engine_versus_model):
    await asyncio.to_thread(lambda: walk(engine_versus_model()))
    assert not EVERY_REPLY - set(REACHED), f"the walk no longer meets {EVERY_REPLY - set(REACHED)}"
