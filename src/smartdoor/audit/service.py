"""Append-only audit trail. Nothing here updates or deletes; code clean-up never touches it.

Every event has the columns of FIELDS; `person` names the person it concerns where there is
one (who asked for or used a code, whose offline credential, who sent a remote command, whom an
administrator's action changed), and `actor` who did an administrator's action ("cli" for the
shell)."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime

from smartdoor.audit import windows
from smartdoor.errors import InvalidInput
from smartdoor.store.database import Database

FIELDS = ("at", "event", "outcome", "door", "person", "action", "reason", "client")
MAX_PAGE = 10_000
log = logging.getLogger(__name__)


async def record(db: Database, **fields) -> None:
    """Writes one event; `fields` as for entry()."""
    await record_many(db, [entry(**fields)])


def entry(
    *,
    now: datetime,
    event: str,
    outcome: str,
    door: str | None = None,
    person: str | None = None,
    action: str | None = None,
    reason: str | None = None,
    client: str | None = None,
    **details,
) -> dict:
    return {
        "at": now,
        "event": event,
        "outcome": outcome,
        "door": door,
        "person": person,
        "action": action,
        "reason": reason,
        "client": client,
        **details,
    }


async def record_many(db: Database, events: list[dict]) -> None:
    if events:
        await db.append_audit(events)
        for tap in db.audit_taps:  # metrics and Home Assistant hear of them (smartdoor.integrations)
            try:
                tap(events)
            except Exception as failed:  # never the request's problem; the type alone (no event data)
                log.warning("audit tap failed: %s", type(failed).__name__)


async def query(
    db: Database,
    *,
    door: str | None = None,
    person: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    event_name: str | None = None,
    newest_first: bool = False,
    skip: int = 0,
    limit: int = 1000,
    now: datetime | None = None,
    expected_oldest: datetime | None = None,
) -> list[dict]:
    """Events matching every filter given (`since` inclusive, `until` exclusive), oldest first
    or newest first (ties in time in insertion order). Pages: `skip` that many, then at most
    `limit` (1 to MAX_PAGE). To page through a trail that is still growing, keep `until` at the
    time the first page was asked for: events added meanwhile then do not shift later pages.

    Read in time windows (audit.windows) when there is a place to start them: newest first from
    `until`, else `now`; oldest first from `since`, else `expected_oldest` (the retention's
    horizon). Without one, the whole filter is read at once (the embedded database then reads
    every event it matches)."""
    if not 1 <= limit <= MAX_PAGE or skip < 0:
        raise InvalidInput(f"limit is 1 to {MAX_PAGE}, skip 0 or more")
    match = {name: value for name, value in (("door", door), ("person", person), ("outcome", outcome),
                                             ("reason", reason), ("event", event_name)) if value}  # fmt: skip
    edge = until or now
    if newest_first and edge is not None:
        return await windows.newest_first(
            db.audit, match, since=since, until=until, now=edge, skip=skip, limit=limit, projection={"_id": 0}
        )
    start = since or expected_oldest
    if not newest_first and start is not None:
        return await windows.oldest_first(
            db.audit, match, since=since, until=until, expected_oldest=start, skip=skip, limit=limit,
            projection={"_id": 0},
        )  # fmt: skip
    flt = {**match, **({"at": {**({"$gte": since} if since else {}), **({"$lt": until} if until else {})}}
                       if since or until else {})}  # fmt: skip
    order = -1 if newest_first else 1
    cursor = db.audit.find(flt, {"_id": 0}).sort([("at", order), ("_id", order)]).skip(skip).limit(limit)
    return await cursor.to_list()


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


# a spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(…) sends data
# away); OWASP's advice: make it text with a leading '
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value):
    value = _plain(value)
    if value is None or isinstance(value, int | float):  # a number we wrote is never a formula
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export(events: list[dict], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps({k: _plain(v) for k, v in e.items()}) + "\n" for e in events)
    extra = sorted({k for e in events for k in e} - set(FIELDS))
    columns = [*FIELDS, *extra]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for e in events:
            writer.writerow({k: _csv_cell(e.get(k)) for k in columns})
        return out.getvalue()
    rows = [[str(_plain(e.get(k)) if e.get(k) is not None else "") for k in FIELDS] for e in events]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(FIELDS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(FIELDS, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines) + "\n"
