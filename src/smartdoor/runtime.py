"""Opening the database the same way for the server and every CLI command."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from smartdoor.settings import Settings
from smartdoor.store import embedded
from smartdoor.store.database import Database, connect
from smartdoor.store.supervisor import DatabaseSupervisor


@contextlib.asynccontextmanager
async def open_database(settings: Settings, *, operation_timeout_ms: int | None = None) -> AsyncIterator[Database]:
    """The app's database. The embedded one is supervised for as long as the block runs: if
    its process dies it is started again and the handle follows it (store.supervisor).
    operation_timeout_ms overrides DB_OPERATION_TIMEOUT_MS (a backup reads for longer)."""
    timeouts = {
        "timeout_ms": settings.db_timeout_ms,
        "operation_timeout_ms": settings.db_operation_timeout_ms
        if operation_timeout_ms is None
        else operation_timeout_ms,
    }
    if settings.mongo_url:
        db = connect(settings.mongo_url, db_name=settings.mongo_db, journal=settings.db_journal, **timeouts)
        try:
            await db.ensure_indexes(audit_retention_days=settings.audit_retention_days)
            yield db
        finally:
            await db.close()
        return
    # embedded: start it, or share the one another process runs on this DATA_DIR
    cache_mb = settings.embedded_db_cache_mb
    server = await asyncio.to_thread(embedded.start_or_share, settings.data_dir, cache_mb=cache_mb)
    # No retryable writes on the embedded database: SecantusDB keeps a record of every such write
    # for 30 minutes, up to 10,000, and on each write scans and sorts all of them under one lock;
    # after a few minutes at a door's pace every write paid for it (the soak's cycle rate fell from
    # ~880 to ~330 a minute, and came back only when the database process restarted). The
    # records are in its memory only, so a retry after a crash never had one anyway. A write that
    # fails is answered 503, and the door resends the same request, which the replay ledger
    # (api.ledger) answers once.
    db = connect(server.uri, db_name=settings.mongo_db, journal=settings.db_journal, retryWrites=False, **timeouts)
    supervisor = DatabaseSupervisor(server=server, db=db, cache_mb=cache_mb)
    watch = asyncio.create_task(supervisor.run(), name="embedded-db-supervisor")
    try:
        await db.ensure_indexes(audit_retention_days=settings.audit_retention_days)
        yield db
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await db.close()
        supervisor.server.stop()
