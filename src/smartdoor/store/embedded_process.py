"""The embedded database's own process: `python -m smartdoor.store.embedded_process`.

It runs SecantusDB's server (the pinned version's classes) with the settings smartdoor needs,
in place of SecantusDB's command line, for two reasons found by measuring a long-running
installation:

- Its command line does not pass its config file's `ttl_sweep_seconds` on to the server, so
  the database's own TTL sweep could not be turned off there. That sweep decodes every record
  of every collection with a TTL index (the whole audit trail) under the lock every request
  waits for; smartdoor.store.retention applies the same indexes in small steps instead.
- Opening the storage leaves the main thread's WiredTiger session with a positioned cursor,
  that is, an open read snapshot, and the main thread never runs another statement. That
  snapshot pins WiredTiger's oldest transaction for the life of the process, so no deleted
  record is ever dropped from the files and their space is never reused: the folder grew by
  about 1.1 KB for every record written while the number of records stayed constant.
  Releasing that snapshot once, after the open, bounds it.

Store.embedded starts this with the address, storage folder and cache size; nothing here is
read from a config file of the working folder or the home folder.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from secantus.server import SecantusDBServer

HOST = "127.0.0.1"
# Read only by change streams (the admin app's live audit feed, which starts from "now"):
# minutes are plenty, and an hour of a busy door's writes was most of the database's size.
OPLOG_RETENTION_SECONDS = 600
OPLOG_MAX_ENTRIES = 20_000
# Its own default, stated here: a connection idle this long is closed (so a crashed client's
# thread is reaped); the app's pool closes idle ones sooner (store.database.MAX_IDLE_MS).
CLIENT_IDLE_TIMEOUT_S = 300.0


def build_server(
    *, port: int, storage_path: str, cache_mb: int, client_idle_timeout_s: float = CLIENT_IDLE_TIMEOUT_S
) -> SecantusDBServer:
    """The server, its storage open and its main-thread snapshot released; not yet listening."""
    server = SecantusDBServer(
        host=HOST,
        port=port,
        storage_path=storage_path,
        require_auth=True,
        enable_test_commands=False,  # the class's default is on (fail points): the daemon's is off
        replica_set_name="secantus",  # as its command line runs it: change streams need one
        oplog_retention_seconds=OPLOG_RETENTION_SECONDS,
        oplog_max_entries=OPLOG_MAX_ENTRIES,
        cache_size=f"{int(cache_mb)}M",  # its own default, 1 GB, is all of a small Pi's memory
        ttl_sweep_seconds=0,
        client_idle_timeout_s=client_idle_timeout_s,
    )
    server.storage.release_thread_snapshot()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage-path", required=True)
    parser.add_argument("--cache-mb", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = build_server(port=args.port, storage_path=args.storage_path, cache_mb=args.cache_mb)

    def stop(signum: int, frame: object) -> None:
        server.stop()  # closes the storage cleanly: a checkpoint, so the next start replays nothing
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.start()
    server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
