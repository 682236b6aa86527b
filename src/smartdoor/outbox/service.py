"""The outbox: a parcel (a payload for one delivery kind, e.g. a mail) that was not delivered at
once is stored sealed (records.py) and retried with backoff until it is delivered or given up.

The interface is small on purpose (another delivery kind plugs in without touching this file;
docs/architecture.md says how):
- a **Delivery** (`deliveries={"mail": Delivery(...)}` when the outbox is made): a function that
  takes the payload's bytes and returns None when delivered, else a short reason (never
  raises), and the deadline of one attempt;
- a **Parcel**: the delivery kind, the payload (bytes; stored only sealed), the audit event each
  attempt writes and its fields, the retry schedule (backoff.Retry) and when to give up;
  optionally the code it is bound to. outbox/mail.py makes the mail parcels.

- **A code's mail** (`try_now`) gets its first attempt while the door waits for the reply. The
  relay took it: the reply says `success` and the mail is never stored, not even sealed. It did
  not: the mail is stored for its retries, and only then does the reply say `partial_success`.
  So whatever the reply promises is true when the door reads it. A process that stops during
  that first attempt answers nothing; the door shows an error and the person asks again (the
  mail was sent at most once).
- **A notice** (`post`), which nobody waits for, is stored (leased to this process) while its
  first attempt is made, so that it survives this process stopping in the middle of it.
- **Retries** are made by any backend process on the database (`run`, one worker per process):
  it reads what is due (of the delivery kinds it has) and claims each record with a conditional
  update (`attempts` still what it read, due, lease free) that sets a lease of the delivery's
  attempt deadline + 15 s and counts the attempt. Only the process whose update matched sends;
  the others skip the record. An attempt is cut at its deadline, well inside the lease. A failed
  attempt frees the lease and sets the next one (backoff.py); a delivered parcel's record is
  deleted, whoever holds it.
- **A process that dies mid-attempt** keeps its lease until the lease runs out; then another
  process (or this one, restarted) claims the record and sends again.
- **At least once, for a stored parcel.** If the receiver accepted a retry but the process
  stopped (or lost the database) before deleting the record, the parcel is sent again when the
  lease has run out; so is one whose attempt timed out after it was sent. SMTP cannot tell
  "accepted" from "lost" after the fact, and at most once would drop every mail whose attempt
  was cut short, including the far more common case of a process stopping before the relay took
  anything. A code's mail is sent again only while that code is still the door's live one,
  unused and unexpired (so not once it has been typed), to the same people with the same bytes
  and Message-ID, by which many mail stores show it once.
- **Given up**: a code's parcel when its code expires, or as soon as the code is no longer the
  door's live one (used, superseded, withdrawn); any parcel at its `give_up_at` (a notice after
  an hour); anything sealed under a key no longer held. The record is deleted and a
  `<delivery>_dropped` event (`mail_dropped`) written, once, by the process whose conditional
  delete matched.
- **Audit**: every attempt writes its event (`mail_delivery` for a code, `unlock_notice`,
  `lockout_notice`) with its number (`attempt`) and outcome. Neither the audit nor a log line
  holds a code or an address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from smartdoor.audit import service as audit
from smartdoor.crypto import Keyring, Unsealable
from smartdoor.outbox import records
from smartdoor.outbox.backoff import Retry, retry_delay
from smartdoor.outbox.records import OutboxRecord
from smartdoor.store.database import Database

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], Awaitable[str | None]]
"""Delivers one payload; None when delivered, else a short reason (never raises)."""

LEASE_MARGIN_SECONDS = 15.0  # beyond an attempt's deadline: recording its outcome, clocks of other hosts
BATCH = 8  # due records one pass attempts side by side (each claims its own)
SWEEP_SECONDS = 5.0  # clock time between looks at the collection when nothing known to this process is due


@dataclass(frozen=True)
class Delivery:
    """One delivery kind: how a payload is delivered, and how long one attempt may take."""

    deliver: Deliver
    attempt_seconds: float  # an attempt is cut after this (+1 s); its lease is this + LEASE_MARGIN_SECONDS


@dataclass(frozen=True)
class Parcel:
    """What the outbox is given: a payload for a delivery kind, and what it keeps beside it."""

    delivery: str  # a key of the outbox's deliveries ("mail")
    payload: bytes  # handed to the delivery unchanged on every attempt; stored only sealed
    door: str
    event: str  # the audit event of each attempt
    details: dict  # that event's other fields; never an address, a code or a secret
    give_up_at: datetime
    retry: Retry
    challenge: str | None = None  # bound to a code: sent only while it is its door's live code
    id: str = field(default_factory=lambda: new_parcel_id())  # the record's; names it in nothing else


class Outbox:
    def __init__(
        self,
        *,
        db: Database,
        keyring: Keyring,
        deliveries: Mapping[str, Delivery],
        clock,
        owner: str | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        """`deliveries`: the delivery kinds this process can attempt; a parcel of another kind is
        refused at once ("<kind> not configured") and a stored one left to processes that have it."""
        self._db, self._keyring, self._clock = db, keyring, clock
        self._deliveries = dict(deliveries)
        self.owner = owner or secrets.token_hex(8)  # names this process in the leases it holds
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._due_hint: datetime | None = None  # the earliest retry this process has set
        self._next_sweep: datetime | None = None
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._passes = (0, 0)  # the worker's passes begun, ended
        self._pass_ended = asyncio.Condition()

    @property
    def attempt_seconds(self) -> float:
        """The longest attempt of any delivery kind it has (what stopping waits for)."""
        return max((d.attempt_seconds for d in self._deliveries.values()), default=0.0)

    # ------------------------------------------------------------------ the first attempt

    async def try_now(self, parcel: Parcel, *, now: datetime, audit_along: list[dict] | None = None) -> str | None:
        """The first attempt, for a caller that waits for its outcome (a code request): None when
        it was delivered (it is then never stored), else the reason, once the parcel is stored
        for its retries. `audit_along`: the caller's events, written in the same insert as this
        attempt's and before it (one command fewer, and in order)."""
        delivery = self._deliveries.get(parcel.delivery)
        if delivery is None:  # nothing could ever deliver it: nothing to keep
            refused = not_configured(parcel.delivery)
            await self._audit(parcel.door, parcel.event, parcel.details, attempt=1, error=refused, now=now,
                              along=audit_along)  # fmt: skip
            return refused
        error = await self._attempt(delivery, parcel.payload)
        if error is None:
            await self._audit(parcel.door, parcel.event, parcel.details, attempt=1, error=None, now=now,
                              along=audit_along)  # fmt: skip
            return None
        record = self._record(parcel, now=now, lease_seconds=0)  # free for any process
        record["last_error"] = error
        record["next_at"] = self._next_at(record, now=now)
        await asyncio.gather(
            records.collection(self._db).insert_one(record),
            self._audit(parcel.door, parcel.event, parcel.details, attempt=1, error=error, now=now, along=audit_along),
        )
        self._hint(record["next_at"])
        return error

    async def post(self, parcel: Parcel, *, now: datetime) -> None:
        """For a parcel nobody waits for (a notice): stored, leased to this process, while its
        first attempt is made, so that it survives this process stopping in the middle of it."""
        delivery = self._deliveries.get(parcel.delivery)
        if delivery is None:
            refused = not_configured(parcel.delivery)
            await self._audit(parcel.door, parcel.event, parcel.details, attempt=1, error=refused, now=now)
            return
        record = self._record(parcel, now=now, lease_seconds=self._lease_seconds(delivery))
        stored, error = await asyncio.gather(
            records.collection(self._db).insert_one(record),
            self._attempt(delivery, parcel.payload),
            return_exceptions=True,
        )
        if isinstance(error, BaseException):  # _attempt does not raise; a cancellation would land here
            raise error
        if isinstance(stored, BaseException):
            if error is not None:
                raise stored  # neither sent nor stored: the notice is lost, and the background task says so
            await self._audit(parcel.door, parcel.event, parcel.details, attempt=1, error=None, now=now)
            return
        await self._finish(record, error, now=now)

    def _record(self, parcel: Parcel, *, now: datetime, lease_seconds: float) -> OutboxRecord:
        """The parcel's record, its first attempt counted and (lease_seconds > 0) leased to this
        process for it."""
        record = OutboxRecord(
            _id=parcel.id,
            delivery=parcel.delivery,
            door=parcel.door,
            event=parcel.event,
            details=parcel.details,
            sealed=records.seal(self._keyring, parcel.id, parcel.payload),
            attempts=1,
            next_at=now,
            lease_until=now + timedelta(seconds=lease_seconds),
            lease_owner=self.owner if lease_seconds else None,
            give_up_at=parcel.give_up_at,
            retry_first=parcel.retry.first_seconds,
            retry_cap=parcel.retry.cap_seconds,
            last_error=None,
            purge_at=records.purge_at(parcel.give_up_at),
        )
        if parcel.challenge:
            record["challenge"] = parcel.challenge
        return record

    @staticmethod
    def _lease_seconds(delivery: Delivery) -> float:
        return delivery.attempt_seconds + LEASE_MARGIN_SECONDS

    # ------------------------------------------------------------------ one attempt and its outcome

    @staticmethod
    async def _attempt(delivery: Delivery, payload: bytes) -> str | None:
        try:  # a delivery has this deadline itself; kept here too because the lease relies on it
            async with asyncio.timeout(delivery.attempt_seconds + 1):
                return await delivery.deliver(payload)
        except TimeoutError:
            return "delivery failed (TimeoutError)"

    async def _finish(self, record: OutboxRecord, error: str | None, *, now: datetime) -> None:
        """Records an attempt's outcome (the record deleted, or freed with its next attempt set)
        and audits it, side by side."""
        outcome = self._delivered(record) if error is None else self._failed(record, error, now=now)
        await asyncio.gather(
            outcome,
            self._audit(
                record["door"], record["event"], record["details"], attempt=record["attempts"], error=error, now=now
            ),
        )

    async def _delivered(self, record: OutboxRecord) -> None:
        # whoever holds it: a process about to send it again must find nothing
        await records.collection(self._db).delete_one({"_id": record["_id"]})

    @staticmethod
    def _next_at(record: OutboxRecord, *, now: datetime) -> datetime:
        """When the attempt after a failed one is due (at the latest, when the parcel is given up)."""
        delay = retry_delay(record["attempts"], cap_seconds=record["retry_cap"], first_seconds=record["retry_first"])
        wait = timedelta(seconds=delay)
        return min(now + wait, record["give_up_at"])

    async def _failed(self, record: OutboxRecord, error: str, *, now: datetime) -> None:
        next_at = self._next_at(record, now=now)
        await records.collection(self._db).update_one(
            {"_id": record["_id"], "lease_owner": self.owner, "attempts": record["attempts"]},
            {"$set": {"lease_until": now, "next_at": next_at, "last_error": error}},
        )
        self._hint(next_at)

    async def _audit(
        self, door: str, event: str, details: dict, *, attempt: int, error: str | None, now: datetime,
        along: list[dict] | None = None,
    ) -> None:  # fmt: skip
        this = audit.entry(
            now=now, event=event, outcome="failure" if error else "success", door=door, reason=error,
            attempt=attempt, **details,
        )  # fmt: skip
        await audit.record_many(self._db, [*(along or []), this])

    # ------------------------------------------------------------------ retries

    async def deliver_due(self, *, now: datetime | None = None) -> int:
        """One pass: up to BATCH records due now, not leased and of a delivery kind this process
        has, each given up, or claimed and attempted. Returns how many records it looked at
        (BATCH: there may be more)."""
        now = now or self._clock.now()
        if not self._deliveries:
            return 0
        due = (
            await records.collection(self._db)
            .find({"next_at": {"$lte": now}, "lease_until": {"$lte": now}, "delivery": {"$in": list(self._deliveries)}})
            .sort("next_at", 1)
            .limit(BATCH)
            .to_list()
        )
        await asyncio.gather(*(self._retry(record, now=now) for record in due))
        return len(due)

    async def _retry(self, record: OutboxRecord, *, now: datetime) -> None:
        if record["give_up_at"] <= now:
            await self._drop(record, reason="expired", outcome="failure", now=now)
            return
        if record.get("challenge") and (ended := await self._code_ended(record, now=now)):
            await self._drop(record, reason=f"code {ended}", outcome="info", now=now)
            return
        delivery = self._deliveries[record["delivery"]]
        try:
            payload = records.open_payload(self._keyring, record)
        except Unsealable:  # sealed under a SECRET_KEY this process no longer has
            await self._drop(record, reason="unsealable", outcome="failure", now=now)
            return
        if not await self._claim(record, now=now, lease_seconds=self._lease_seconds(delivery)):
            return  # another process has it
        attempt = {**record, "attempts": record["attempts"] + 1}
        error = await self._attempt(delivery, payload)
        await self._finish(attempt, error, now=self._clock.now())  # type: ignore[arg-type]

    async def _claim(self, record: OutboxRecord, *, now: datetime, lease_seconds: float) -> bool:
        """The conditional update only one process can win: the record unchanged since it was read
        (same attempt count), due, and not leased."""
        claimed = await records.collection(self._db).update_one(
            {
                "_id": record["_id"],
                "attempts": record["attempts"],
                "next_at": {"$lte": now},
                "lease_until": {"$lte": now},
            },
            {
                "$set": {"lease_until": now + timedelta(seconds=lease_seconds), "lease_owner": self.owner},
                "$inc": {"attempts": 1},
            },
        )
        return bool(claimed.modified_count)

    async def _code_ended(self, record: OutboxRecord, *, now: datetime) -> str | None:
        """None while the mail's code is still its door's live code; else how it ended."""
        door = await self._db.doors.find_one(
            {"_id": record["door"]}, {"pending.id": 1, "pending.expires_at": 1, "ended.id": 1, "ended.status": 1}
        )
        if door is None:
            return "removed"  # the door went, and its code with it
        pending = door.get("pending") or {}
        if pending.get("id") == record["challenge"]:
            return None if pending["expires_at"] > now else "expired"
        return next((e["status"] for e in door.get("ended") or [] if e.get("id") == record["challenge"]), "ended")

    async def _drop(self, record: OutboxRecord, *, reason: str, outcome: str, now: datetime) -> None:
        """Deletes a record it was about to attempt and audits that once (`mail_dropped` for a
        mail): the delete has the claim's condition, so of several processes one deletes and
        audits."""
        dropped = await records.collection(self._db).delete_one(
            {"_id": record["_id"], "attempts": record["attempts"], "lease_until": {"$lte": now}}
        )
        if dropped.deleted_count:
            details = record["details"]
            await audit.record(
                self._db, now=now, event=f"{record['delivery']}_dropped", outcome=outcome, door=record["door"],
                reason=reason, of=record["event"], attempts=record["attempts"], challenge=record.get("challenge"),
                person=details.get("person"), action=details.get("action"),
            )  # fmt: skip

    # ------------------------------------------------------------------ the worker

    def _hint(self, next_at: datetime) -> None:
        if self._due_hint is None or next_at < self._due_hint:
            self._due_hint = next_at

    def _worth_a_look(self, now: datetime) -> bool:
        """A pass reads the collection: only when a retry this process set is due, or SWEEP_SECONDS
        after the last look (records other processes left), so an idle backend sends no command."""
        return (self._due_hint is not None and self._due_hint <= now) or (
            self._next_sweep is None or self._next_sweep <= now
        )

    def wake(self) -> None:
        """Makes the worker look at the collection now."""
        self._wake.set()

    async def look_now(self) -> None:
        """Wakes the worker and returns once it has ended a pass begun after this call (so a test
        that moves its clock on knows the outbox has looked at that moment). Without a running
        worker, makes the pass itself."""
        if self._task is None or self._task.done():
            await self.deliver_due()
            return
        want = self._passes[0] + 1
        self.wake()
        async with self._pass_ended:
            await self._pass_ended.wait_for(lambda: self._passes[1] >= want or self._task is None)

    async def run(self) -> None:
        """The retry worker, for the app's lifetime (start/stop). It wakes every poll_seconds (real
        time) and decides by the clock whether anything may be due."""
        woken = True  # a first look at start: records left by a previous run
        while not self._stopping:
            now = self._clock.now()
            if woken or self._worth_a_look(now):
                self._due_hint, self._next_sweep = None, now + timedelta(seconds=SWEEP_SECONDS)
                self._passes = (self._passes[0] + 1, self._passes[1])
                try:
                    if await self.deliver_due(now=now) >= BATCH:
                        self._hint(now)  # more are waiting
                except Exception as exc:  # an outage (or anything else) must not end the worker
                    self._hint(now)
                    log.warning("outbox pass failed: %s", type(exc).__name__)
                async with self._pass_ended:
                    self._passes = (self._passes[0], self._passes[0])
                    self._pass_ended.notify_all()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()
            woken = self._wake.is_set()
            self._wake.clear()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run())

    async def stop(self, *, timeout: float) -> None:
        """Lets an attempt under way finish (up to `timeout`), then ends the worker. A record whose
        attempt is cut off keeps its lease until the lease runs out and is retried then."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


def new_parcel_id() -> str:
    return secrets.token_urlsafe(12)


def not_configured(delivery: str) -> str:
    """The reason given for a parcel of a delivery kind this process does not have."""
    return f"{delivery} not configured"
