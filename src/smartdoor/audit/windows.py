"""The newest (or oldest) audit events of a filter, read in adjacent time windows.

The embedded database reads every event a query matches (decoded, under its global lock) before
it sorts, skips and limits them, even when an index gives the order: a first page of 50 out of
1,000,000 events read all 1,000,000. Looked for in a time window instead, a query reads only the
window's events (the indexes on `at`, `(door, at)` and `(person, at)` give the range).

The walk starts with a window of one second at its edge (`until`, else now, for newest first),
then reads the adjacent, older window, each sized from the events found so far to hold about
1.5 times what is still needed (at least doubling, at most 16 times the time covered so far),
until it has `skip + limit` events or reaches the filter's own bound. Windows do not overlap,
so no event is read twice, and every event of a window is newer than every event of the next
one: the rows are exactly `find(filter).sort(at, _id).skip(skip).limit(limit)`'s. On MongoDB
(MONGO_URL) each window is an index range scan as well; a few more round trips, same result.

Every audit event has its time in `at` (audit.service.entry): a window bounds `at` on both
sides except the first (up to `until`, or unbounded: events a clock ahead wrote count) and the
last (down to `since`, or unbounded)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection

# short, because a first window's events are all read: with 2,300 events in the last minute
# (700 of them in its last 3 s) a first page took 105 ms from a 1-minute window, 53 ms from 10 s
# and 16 ms from 1 s; on a sparse trail the extra empty windows cost nothing measurable (6–7 ms
# each way; bench/RESULTS.md)
FIRST_WINDOW = timedelta(seconds=1)
MAX_REACH = timedelta(days=3660)  # windows this far from the edge: the next one goes to the filter's bound
MARGIN = 1.5  # a next window is sized to hold this many times what is still needed
MAX_GROWTH = 15  # a next window is at most 15 times, at least once, the time covered so far


async def newest_first(
    collection: AsyncCollection,
    match: Mapping,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    skip: int = 0,
    limit: int,
    projection: Mapping | None = None,
) -> list[dict]:
    """`match` (no `at` in it) with `since <= at < until`, newest first (ties: the later `_id`
    first), `skip` of them skipped, at most `limit` (≥ 1)."""
    return await _walk(
        collection, match, near=until, far=since, edge=until or now, step=-1, skip=skip, limit=limit,
        projection=projection,
    )  # fmt: skip


async def oldest_first(
    collection: AsyncCollection,
    match: Mapping,
    *,
    since: datetime | None,
    until: datetime | None,
    expected_oldest: datetime,
    skip: int = 0,
    limit: int,
    projection: Mapping | None = None,
) -> list[dict]:
    """The same, oldest first (ties: the earlier `_id` first). The walk starts at `since`, else
    at `expected_oldest` (e.g. the retention's horizon) with one window for whatever is older:
    a guess that only decides how much is read, never what is returned."""
    if since is None:
        cut = expected_oldest if until is None else min(expected_oldest, until)
        older = _with_at(match, lower=None, upper=cut)
        rows = await _read(collection, older, step=1, skip=skip, limit=limit, projection=projection)
        if len(rows) == limit or cut == until:
            return rows
        skip = max(0, skip - await _held(collection, older, skip=skip, got=len(rows)))
        rest = await _walk(
            collection, match, near=cut, far=until, edge=cut, step=1, skip=skip, limit=limit - len(rows),
            projection=projection,
        )  # fmt: skip
        return rows + rest
    return await _walk(
        collection, match, near=since, far=until, edge=since, step=1, skip=skip, limit=limit, projection=projection
    )


async def _walk(
    collection: AsyncCollection,
    match: Mapping,
    *,
    near: datetime | None,
    far: datetime | None,
    edge: datetime,
    step: int,
    skip: int,
    limit: int,
    projection: Mapping | None,
) -> list[dict]:
    """Windows from `edge` towards `far` (step -1: back in time, +1: forward); the first one is
    bounded on the near side by `near` (None: unbounded), the last one on the far side by `far`."""
    if limit < 1:
        raise ValueError("limit is at least 1")
    rows: list[dict] = []
    reach, seen, inner = FIRST_WINDOW, 0, near
    while True:
        try:
            outer: datetime | None = edge + step * reach
        except OverflowError:  # past year 9999 (or before year 1)
            outer = None
        last = outer is None or reach > MAX_REACH or (far is not None and (outer <= far if step < 0 else outer >= far))
        if last:
            outer = far
        lower, upper = (outer, inner) if step < 0 else (inner, outer)
        query = _with_at(match, lower=lower, upper=upper)
        got = await _read(collection, query, step=step, skip=skip, limit=limit - len(rows), projection=projection)
        rows += got
        if len(rows) == limit or last:
            return rows
        # this window is exhausted: what it held counts towards the skip and sizes the next one
        held = await _held(collection, query, skip=skip, got=len(got))
        skip, seen = max(0, skip - held), seen + held
        needed = skip + limit - len(rows)
        growth = MAX_GROWTH if not seen else min(MAX_GROWTH, max(1.0, MARGIN * needed / seen))
        inner, reach = outer, reach * (1 + growth)


async def _read(collection, query: dict, *, step: int, skip: int, limit: int, projection) -> list[dict]:
    cursor = collection.find(query, projection).sort([("at", step), ("_id", step)]).skip(skip)
    return await cursor.limit(limit).to_list()


async def _held(collection, query: dict, *, skip: int, got: int) -> int:
    """How many events an exhausted window held: the skipped ones and those read, counted only
    when it returned none while skipping (then it held at most `skip`)."""
    if got or not skip:
        return skip + got
    return await collection.count_documents(query)


def _with_at(match: Mapping, *, lower: datetime | None, upper: datetime | None) -> dict:
    at = {**({"$gte": lower} if lower is not None else {}), **({"$lt": upper} if upper is not None else {})}
    return {**match, **({"at": at} if at else {})}
