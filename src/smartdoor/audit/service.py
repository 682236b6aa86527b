"""Append-only audit trail. Nothing here updates or deletes; code clean-up never touches it."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from smartdoor.store.database import Database

FIELDS = ("at", "event", "outcome", "door", "action", "reason", "client")


async def record(db: Database, **fields) -> None:
    """Writes one event; `fields` as for entry()."""
    await record_many(db, [entry(**fields)])


def entry(
    *,
    now: datetime,
    event: str,
    outcome: str,
    door: str | None = None,
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
        "action": action,
        "reason": reason,
        "client": client,
        **details,
    }


async def record_many(db: Database, events: list[dict]) -> None:
    if events:
        await db.append_audit(events)


async def query(
    db: Database,
    *,
    door: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    event_name: str | None = None,
    limit: int = 1000,
) -> list[dict]:
    flt: dict = {}
    if door:
        flt["door"] = door
    if since:
        flt["at"] = {"$gte": since}
    if outcome:
        flt["outcome"] = outcome
    if event_name:
        flt["event"] = event_name
    cursor = db.audit.find(flt, {"_id": 0}).sort("at", 1).limit(limit)
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
