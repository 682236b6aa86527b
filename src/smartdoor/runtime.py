"""Opening the database the same way for the server and every CLI command."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from smartdoor.settings import Settings
from smartdoor.store import embedded
from smartdoor.store.database import Database, connect


@contextlib.asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    server = None
    if settings.mongo_url:
        uri = settings.mongo_url
    else:  # embedded: start it, or share the one another process runs on this DATA_DIR
        server = embedded.start_or_share(settings.data_dir)
        uri = server.uri
    db = connect(uri, db_name=settings.mongo_db, timeout_ms=settings.db_timeout_ms)
    try:
        await db.ensure_indexes(audit_retention_days=settings.audit_retention_days)
        yield db
    finally:
        await db.close()
        if server is not None:
            server.stop()
