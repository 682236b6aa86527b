"""The `smartdoor` command: serve, demo, door …, audit. Every command opens the database the
same way the server does (or shares the embedded one a running server holds)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from smartdoor.audit import service as audit_service
from smartdoor.doors import service as doors
from smartdoor.errors import DomainError
from smartdoor.runtime import open_database
from smartdoor.settings import Settings, UnsafeSettings, exposed_env_file
from smartdoor.store.embedded import EmbeddedDatabaseError

app = typer.Typer(help="Smart Door: one-time-code door lock backend.", no_args_is_help=True)
door_app = typer.Typer(help="Manage doors.", no_args_is_help=True)
app.add_typer(door_app, name="door")
person_app = typer.Typer(help="Manage people: who may ask a door for a code.", no_args_is_help=True)
app.add_typer(person_app, name="person")


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except (UnsafeSettings, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"smartdoor: refusing to start: {message.removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None


def run_with_db(fn, settings: Settings | None = None, **open_options):
    settings = settings or load_settings()

    async def main():
        async with open_database(settings, **open_options) as db:
            return await fn(db, settings)

    try:
        return asyncio.run(main())
    except DomainError as exc:
        typer.echo(f"smartdoor: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except EmbeddedDatabaseError as exc:  # e.g. DATA_DIR held by a database we cannot authenticate to
        typer.echo(f"smartdoor: {exc}", err=True)
        raise typer.Exit(1) from None


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the backend."""
    from smartdoor.main import create_app
    from smartdoor.server import build_server, run_server

    settings = load_settings()
    if warning := exposed_env_file():
        logging.getLogger("smartdoor").warning(warning)
    run_server(build_server(create_app(settings), settings, host=host, port=port, log_level="info"))


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Its own data folder (DATA_DIR, .env: not read)")] = Path("data"),
) -> None:
    """Everything on one machine: database, backend, a mail sink, a simulated door. It reads no
    .env and no environment: its settings are fixed."""
    from smartdoor.web.demo import run_demo

    run_demo(host=host, port=port, data_dir=data_dir)


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Backend URL, e.g. http://127.0.0.1:8000")],
    door: Annotated[str, typer.Option(help="Door id")],
    secret: Annotated[str, typer.Option(help="The door's secret: 64 hex characters")],
) -> None:
    """A simulated door in this terminal (the firmware's own state machine) against any backend."""
    from smartdoor.simulator.terminal import run_simulator

    raise typer.Exit(run_simulator(url, door, secret))


@door_app.command("add")
def door_add(
    name: str,
    recipient: Annotated[list[str], typer.Option("--recipient", help="Email for this door's codes")] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create a door; prints its id and its secret (shown this once)."""

    async def go(db, settings):
        return await doors.create_door(db, settings.keyring(), name=name, recipients=recipient, now=_now())

    door, secret = run_with_db(go)
    if as_json:
        typer.echo(
            json.dumps({"id": door["_id"], "secret": secret, "name": door["name"], "recipients": door["recipients"]})
        )
    else:
        typer.echo(
            f"door id: {door['_id']}\nsecret:  {secret}\n"
            "Put both in the device's config.py. The secret is not shown again."
        )


@door_app.command("list")
def door_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List doors (never their secrets)."""
    rows = run_with_db(lambda db, s: doors.list_doors(db))
    out = [
        {
            "id": d["_id"],
            "name": d["name"],
            "recipients": d.get("recipients", []),
            "state": d.get("state"),
            "failures": d.get("failures", 0),
            "hard_locked": d.get("hard_locked", False),
        }
        for d in rows
    ]
    if as_json:
        typer.echo(json.dumps(out))
        return
    for d in out:
        typer.echo(
            f"{d['id']}  {d['name']:<20} state={d['state'] or '-':<9} failures={d['failures']:<3} "
            f"{'HARD-LOCKED ' if d['hard_locked'] else ''}{', '.join(d['recipients'])}"
        )


@door_app.command("rotate-secret")
def door_rotate(door_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Give a door a new secret (the old one stops working at once)."""
    secret = run_with_db(lambda db, s: doors.rotate_secret(db, s.keyring(), door_id=door_id))
    typer.echo(json.dumps({"id": door_id, "secret": secret}) if as_json else f"new secret: {secret}")


@door_app.command("remove")
def door_remove(door_id: str) -> None:
    """Remove a door; its pending codes stop working. Its audit stays."""
    run_with_db(lambda db, s: doors.remove_door(db, door_id=door_id))
    typer.echo(f"removed {door_id}")


@app.command("rotate-key")
def rotate_key(
    old: Annotated[
        str | None, typer.Option(help="The old SECRET_KEY (default: SECRET_KEY_OLD, else asked for)", hidden=True)
    ] = None,
) -> None:
    """Re-seal every door's secrets under a new SECRET_KEY. Set SECRET_KEY to the new key first;
    the old one comes from SECRET_KEY_OLD or is asked for. Safe to run again."""
    from smartdoor.crypto import Keyring
    from smartdoor.doors.rotation import rotate_server_key

    settings = load_settings()
    old_key = old or settings.secret_key_old.get_secret_value()
    if not old_key:
        old_key = typer.prompt("The old SECRET_KEY", hide_input=True)
    keyring = Keyring(settings.master_key(), old_key.encode())

    async def go(db, settings):
        report = await rotate_server_key(db, keyring=keyring)
        await audit_service.record(
            db, now=_now(), event="key_rotated", outcome="failure" if report.unsealable else "success",
            client="cli", rotated=len(report.rotated), already=len(report.already),
            unsealable=report.unsealable,
        )  # fmt: skip
        return report

    report = run_with_db(go, settings)
    typer.echo(f"re-sealed {len(report.rotated)} door(s); {len(report.already)} already under the new key")
    if report.unsealable:
        typer.echo("smartdoor: sealed under neither key (wrong old key?): " + ", ".join(report.unsealable), err=True)
        raise typer.Exit(1)
    typer.echo("Keep SECRET_KEY_OLD set until pending codes have expired (CODE_TTL_SECONDS), then remove it.")


@door_app.command("offline-enroll")
def door_offline_enroll(
    door_id: str,
    label: Annotated[str, typer.Option(help="Whose authenticator app this is, e.g. 'Alice's phone'")] = "offline",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """A TOTP credential for opening this door while it cannot reach the backend: prints its
    otpauth:// URI and a QR code for an authenticator app (shown this once). The door receives
    it with its next state report."""
    from smartdoor.doors import offline

    async def go(db, settings):
        credential, uri = await offline.enroll(db, settings.keyring(), door_id=door_id, label=label, now=_now())
        await audit_service.record(
            db, now=_now(), event="offline_enrolled", outcome="info", door=door_id, client="cli",
            credential=credential["id"], label=credential["label"],
        )  # fmt: skip
        return credential, uri

    credential, uri = run_with_db(go)
    if as_json:
        typer.echo(json.dumps({"door": door_id, "id": credential["id"], "label": credential["label"], "uri": uri}))
        return
    import segno

    segno.make(uri, error="m").terminal(compact=True)
    typer.echo(f"{uri}\nScan it (or paste the URI) into an authenticator app. It is not shown again.")


@door_app.command("offline-list")
def door_offline_list(door_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The door's offline credentials (never their secrets)."""
    from smartdoor.doors import offline

    door = run_with_db(lambda db, s: doors.get_door(db, door_id))
    rows = [{**c, "created_at": c["created_at"].isoformat()} for c in offline.listed(door)]
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    for c in rows:
        typer.echo(f"{c['id']}  {c['label']:<24} since {c['created_at']}")


@door_app.command("offline-revoke")
def door_offline_revoke(door_id: str, credential_id: str) -> None:
    """Withdraw an offline credential; the door drops it with its next state report."""
    from smartdoor.doors import offline

    async def go(db, settings):
        await offline.revoke(db, door_id=door_id, credential_id=credential_id)
        await audit_service.record(
            db, now=_now(), event="offline_revoked", outcome="info", door=door_id, client="cli",
            credential=credential_id,
        )  # fmt: skip

    run_with_db(go)
    typer.echo(f"revoked {credential_id}")


@door_app.command("clear-lockout")
def door_clear_lockout(door_id: str) -> None:
    """Reset a door's failure count and lift any lockout, hard stop included."""

    async def go(db, settings):
        await doors.clear_lockout(db, door_id=door_id)
        await audit_service.record(db, now=_now(), event="lockout_cleared", outcome="info", door=door_id, client="cli")

    run_with_db(go)
    typer.echo(f"lockout cleared for {door_id}")


def _person_row(p: dict) -> dict:
    return {"id": p["_id"], "name": p["name"], "email": p["email"], "role": p["role"], "active": p["active"],
            "keypad": p["keypad"]}  # fmt: skip


async def _audited(db, event: str, **details) -> None:
    """An administrator's action from the command line, in the audit like any other."""
    await audit_service.record(db, now=_now(), event=event, outcome="info", client="cli", actor="cli", **details)


@person_app.command("add")
def person_add(
    name: str,
    email: Annotated[str, typer.Option(help="Where this person's codes and notices go")],
    role: Annotated[str, typer.Option(help="admin, member or guest")] = "member",
    keypad: Annotated[
        str | None, typer.Option(help="The number typed on a keypad (default: the next free one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Add a person; prints their id and keypad number."""
    from smartdoor.people import service as people

    async def go(db, settings):
        person = await people.add_person(db, name=name, email=email, role=role, keypad=keypad, now=_now())
        await _audited(db, "person_added", person=person["_id"], role=person["role"])
        return person

    person = run_with_db(go)
    row = _person_row(person)
    typer.echo(json.dumps(row) if as_json else f"person id: {row['id']}\nkeypad number: {row['keypad']}")


@person_app.command("list")
def person_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List people."""
    from smartdoor.people import service as people

    rows = [_person_row(p) for p in run_with_db(lambda db, s: people.list_people(db))]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for p in rows:
        state = "" if p["active"] else "  (disabled)"
        typer.echo(f"{p['id']}  {p['keypad']:>6}  {p['role']:<6}  {p['name']:<24} {p['email']}{state}")


def _set_active(person_id: str, active: bool) -> None:
    from smartdoor.people import service as people

    async def go(db, settings):
        await people.set_active(db, person_id=person_id, active=active)
        await _audited(db, "person_enabled" if active else "person_disabled", person=person_id)

    run_with_db(go)


@person_app.command("disable")
def person_disable(person_id: str) -> None:
    """Stop a person from getting codes or logging in (their grants stay, unused)."""
    _set_active(person_id, False)
    typer.echo(f"disabled {person_id}")


@person_app.command("enable")
def person_enable(person_id: str) -> None:
    """Let a disabled person in again."""
    _set_active(person_id, True)
    typer.echo(f"enabled {person_id}")


@person_app.command("remove")
def person_remove(person_id: str) -> None:
    """Remove a person and their grants; their audit stays."""
    from smartdoor.people import service as people

    async def go(db, settings):
        await people.remove_person(db, person_id=person_id)
        await _audited(db, "person_removed", person=person_id)

    run_with_db(go)
    typer.echo(f"removed {person_id}")


@app.command()
def audit(
    door: Annotated[str | None, typer.Option(help="Only this door id")] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time, e.g. 2026-11-25T08:00")] = None,
    outcome: Annotated[str | None, typer.Option(help="success, failure, refused or info")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or jsonl")] = "table",
    limit: Annotated[int, typer.Option(help="At most this many events")] = 1000,
) -> None:
    """Show the audit trail, oldest first."""
    if fmt not in ("table", "csv", "jsonl"):
        typer.echo("smartdoor: --format is table, csv or jsonl", err=True)
        raise typer.Exit(2)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    events = run_with_db(lambda db, s: audit_service.query(db, door=door, since=since, outcome=outcome, limit=limit))
    sys.stdout.write(audit_service.export(events, fmt))


# --- operations: backup and restore (smartdoor.store.backup) ---


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write it, e.g. /var/backups/smartdoor/door.jsonl.gz")],
) -> None:
    """Write a backup of everything (doors with their sealed secrets, people, grants, offline uses,
    audit) while the server runs: one consistent snapshot, gzip'd extended JSON, a 0600 file."""
    from smartdoor import __version__
    from smartdoor.store import backup as backups

    async def go(db, settings):
        summary = await backups.write_backup(
            db, file, now=_now(), app_version=__version__, key_id=settings.keyring().key_id
        )
        await _audited(db, "backup_created", file=str(file.resolve()), consistency=summary.consistency,
                       documents=sum(summary.counts.values()))  # fmt: skip
        return summary

    try:
        summary = run_with_db(go, load_settings(), operation_timeout_ms=0)  # a backup may read for minutes
    except backups.BackupError as exc:
        typer.echo(f"smartdoor: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {summary.path} ({summary.consistency}): {backups.describe(summary.counts)}")
    if summary.consistency != "snapshot":
        typer.echo("note: this database has no transactions: collections were read one after another", err=True)


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `smartdoor backup`")],
    force: Annotated[bool, typer.Option("--force", help="Replace what the database holds")] = False,
) -> None:
    """Restore a backup into an empty database (stop the server first). SECRET_KEY must be the
    key the backup was made under: the door secrets in it are sealed with it."""
    from smartdoor.crypto import Unsealable
    from smartdoor.store import backup as backups

    try:
        found = backups.read_backup(file)
    except backups.BackupError as exc:
        typer.echo(f"smartdoor: {exc}", err=True)
        raise typer.Exit(1) from None
    settings = load_settings()
    keyring = settings.keyring()
    unsealable = []
    for name, document in found.documents():
        if name == "doors":
            try:
                keyring.open(document["_id"], bytes(document["sealed_secret"]))
            except (Unsealable, KeyError, TypeError):
                unsealable.append(str(document.get("_id")))
    if unsealable:
        typer.echo(
            f"smartdoor: refusing to restore: the secrets of {len(unsealable)} door(s) are sealed under another "
            f"SECRET_KEY (key id {found.header.get('key_id')}, this one is {keyring.key_id}); "
            "set SECRET_KEY to the key the backup was made under",
            err=True,
        )
        raise typer.Exit(1)

    async def go(db, settings):
        present = await backups.documents_in(db)
        if present and not force:
            return present, None
        restored = await backups.restore(db, found, replace=bool(present))
        await _audited(db, "backup_restored", file=str(file.resolve()), made=found.header.get("created_at"),
                       documents=sum(restored.values()), replaced=bool(present))  # fmt: skip
        return present, restored

    present, restored = run_with_db(go, settings)
    if restored is None:
        typer.echo(
            f"smartdoor: refusing to restore: the database already holds {backups.describe(present)}; "
            "--force replaces it",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"restored {backups.describe(restored)} from {file} ({backups.header_summary(found.header)})")


if __name__ == "__main__":
    app()
