"""The embedded database's one user: its credentials and how it gets into the database.

The credentials are made at the first start and kept in DATA_DIR/embedded-db.credentials (0600).
SecantusDB's documented way to provision a user is to start it once without --auth, connect and
run createUser. That first start would listen on a loopback port where any local user could
connect before us: read the data, plant a user of their own, change a door. So we never start
it without --auth. Before every start of our own server, a short child process opens the
storage with no socket at all, runs SecantusDB's own createUser command handler in-process and
drops every other user (a user planted while the database had no authentication, e.g. by an
older version of this program, is reported and removed). Only then is the server started, with
--auth, and it never listens unauthenticated.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

from smartdoor.store.private_files import PRIVATE_UMASK, write_private

log = logging.getLogger("smartdoor.store")

CREDENTIALS_FILE = "embedded-db.credentials"
USERNAME = "smartdoor"
AUTH_SOURCE = "admin"
MECHANISM = "SCRAM-SHA-256"
# Everything the backend does (CRUD, indexes, drop of a test database), nothing more: the user
# cannot create users or roles, so its password cannot be turned into a second, hidden login.
ROLES = [{"role": "readWriteAnyDatabase", "db": "admin"}, {"role": "dbAdminAnyDatabase", "db": "admin"}]


class ProvisioningFailed(RuntimeError):
    """The database could not be given our user; the message says why in one line."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def client_options(self) -> dict:
        """pymongo keyword arguments that authenticate as this user."""
        return {
            "username": self.username,
            "password": self.password,
            "authSource": AUTH_SOURCE,
            "authMechanism": MECHANISM,
        }

    def uri(self, port: int) -> str:
        """A URL that carries the credentials (for MONGO_URL-shaped callers). Never log it."""
        return (
            f"mongodb://{quote_plus(self.username)}:{quote_plus(self.password)}@127.0.0.1:{port}/"
            f"?directConnection=true&authSource={AUTH_SOURCE}&authMechanism={MECHANISM}"
        )


def load_credentials(data_dir: Path) -> Credentials | None:
    try:
        stored = json.loads((data_dir / CREDENTIALS_FILE).read_text())
        return Credentials(stored["username"], stored["password"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise ProvisioningFailed(
            f"{data_dir / CREDENTIALS_FILE} is damaged: stop every smartdoor process on this DATA_DIR, "
            "delete the file and start again (a new password is made)"
        ) from None


def new_credentials() -> Credentials:
    return Credentials(USERNAME, secrets.token_urlsafe(32))


def save_credentials(data_dir: Path, credentials: Credentials) -> None:
    body = {"username": credentials.username, "password": credentials.password}
    write_private(data_dir / CREDENTIALS_FILE, json.dumps(body).encode())


def provision(storage: Path, credentials: Credentials, *, cwd: Path, timeout: float = 60.0) -> None:
    """Make our user the only one in the storage, with no socket open (see the module's text).

    A child process does it because WiredTiger must be closed again before the server opens it,
    and so the storage files it creates get PRIVATE_UMASK. The password goes over a pipe, never
    on a command line (those are world-readable in /proc)."""
    request = {"storage": str(storage), **credentials.client_options()}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "smartdoor.store.embedded_auth"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
            umask=PRIVATE_UMASK,
        )
    except subprocess.TimeoutExpired:
        raise ProvisioningFailed(f"embedded database at {storage} could not be opened within {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise ProvisioningFailed(f"embedded database at {storage} could not be opened: {lines[-1]}")
    dropped = json.loads(result.stdout)["dropped"]
    if dropped:
        log.warning(
            "embedded database held users this program did not make (%s): removed them; "
            "they could have been added while it accepted unauthenticated connections",
            ", ".join(repr(name) for name in dropped),
        )


def _provision_in_this_process(request: dict) -> list[str]:
    # SecantusDB internals (pinned version): the server object opens the storage exactly as the
    # daemon does; start() is never called, so nothing listens. Commands go through its own
    # dispatcher, so the user record is derived by SecantusDB itself.
    from secantus.commands import CommandContext, dispatch
    from secantus.server import SecantusDBServer

    server = SecantusDBServer(
        host="127.0.0.1",
        port=0,
        storage_path=request["storage"],
        require_auth=True,
        enable_test_commands=False,
        ttl_sweep_seconds=0,  # as the daemon runs (store.embedded): no sweep while we provision
    )
    try:
        context = CommandContext(connection_id=0, storage=server.storage, cursors=server.cursors, db_name="admin")
        dropped = []
        for user in server.storage.list_users(None, limit=1000):
            if (user["db"], user["user"]) != (request["authSource"], request["username"]):
                dropped.append(f"{user['user']}@{user['db']}")
            _run(dispatch, {"dropUser": user["user"]}, context, db=user["db"])
        _run(
            dispatch,
            {
                "createUser": request["username"],
                "pwd": request["password"],
                "roles": ROLES,
                "mechanisms": [request["authMechanism"]],
            },
            context,
            db=request["authSource"],
        )
        return dropped
    finally:
        server.stop()


def _run(dispatch, command: dict, context, *, db: str) -> None:
    context.db_name = db
    reply = dispatch(command, context)
    if reply.get("ok") != 1.0:
        raise RuntimeError(f"{next(iter(command))} failed: {reply.get('errmsg')}")


def main() -> int:
    try:
        dropped = _provision_in_this_process(json.loads(sys.stdin.read()))
    except Exception as exc:  # one line for the parent's error message; the password is not in it
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    print(json.dumps({"dropped": dropped}))
    return 0


if __name__ == "__main__":
    os.umask(PRIVATE_UMASK)  # the parent sets it too; this holds when run by hand
    sys.exit(main())
