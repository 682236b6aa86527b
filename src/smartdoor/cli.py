"""The `smartdoor` command: serve, demo, door …, audit. Every command opens the database the
same way the server does (or shares the embedded one a running server holds)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
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
admin_app = typer.Typer(help="The admin web app's accounts.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
grant_app = typer.Typer(help="Manage grants: who may lock or unlock which door, when.", no_args_is_help=True)
app.add_typer(grant_app, name="grant")


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except (UnsafeSettings, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"smartdoor: refusing to start: {message.removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None


def run_with_db(fn, settings: Settings | None = None, **open_options):
    settings = settings or load_settings()
    # a command may read a lot (audit, backup): no per-operation timeout, as before the server had one
    open_options.setdefault("operation_timeout_ms", 0)

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
            "timezone": d.get("timezone") or "UTC",
            "shared_codes": d.get("shared_codes", True),
            "remote_unlock": d.get("remote_unlock", True),
            "watchers": d.get("watchers") or [],
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
    from smartdoor.push.rotation import reseal_push_urls

    settings = load_settings()
    old_key = old or settings.secret_key_old.get_secret_value()
    if not old_key:
        old_key = typer.prompt("The old SECRET_KEY", hide_input=True)
    keyring = Keyring(settings.master_key(), old_key.encode())

    async def go(db, settings):
        report = await rotate_server_key(db, keyring=keyring)
        pushes = await reseal_push_urls(db, keyring=keyring)  # people's push URLs (smartdoor.push)
        await audit_service.record(
            db, now=_now(), event="key_rotated", outcome="failure" if report.unsealable else "success",
            client="cli", rotated=len(report.rotated), already=len(report.already),
            unsealable=report.unsealable, push_urls=pushes.resealed, push_unsealable=pushes.unsealable,
        )  # fmt: skip
        return report, pushes

    report, pushes = run_with_db(go, settings)
    typer.echo(f"re-sealed {len(report.rotated)} door(s); {len(report.already)} already under the new key")
    if pushes.resealed:
        typer.echo(f"re-sealed {pushes.resealed} push URL(s)")
    if pushes.unsealable:  # the person's push fails until it is set again; not a reason to stop
        typer.echo("smartdoor: push URLs sealed under neither key, set them again: " + ", ".join(pushes.unsealable),
                   err=True)  # fmt: skip
    if report.unsealable:
        typer.echo("smartdoor: sealed under neither key (wrong old key?): " + ", ".join(report.unsealable), err=True)
        raise typer.Exit(1)
    typer.echo("Keep SECRET_KEY_OLD set until pending codes have expired (CODE_TTL_SECONDS), then remove it.")


@door_app.command("offline-enroll")
def door_offline_enroll(
    door_id: str,
    label: Annotated[str, typer.Option(help="Whose authenticator app this is, e.g. 'Alice's phone'")] = "offline",
    person: Annotated[
        str | None, typer.Option(help="Whose it is (person id): the audit and notices name them for its uses")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """A TOTP credential for opening this door while it cannot reach the backend: prints its
    otpauth:// URI and a QR code for an authenticator app (shown this once). The door receives
    it with its next state report."""
    from smartdoor.doors import offline

    async def go(db, settings):
        credential, uri = await offline.enroll(
            db, settings.keyring(), door_id=door_id, label=label, now=_now(), person=person
        )
        await audit_service.record(
            db, now=_now(), event="offline_enrolled", outcome="info", door=door_id, client="cli",
            credential=credential["id"], label=credential["label"], person=person, actor="cli",
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
        await people.set_active(db, person_id=person_id, active=active, now=_now())
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
        await people.remove_person(db, person_id=person_id, now=_now())
        await _audited(db, "person_removed", person=person_id)

    run_with_db(go)
    typer.echo(f"removed {person_id}")


@person_app.command("push")
def person_push(
    person_id: str,
    delivery: Annotated[
        str | None, typer.Option(help="Where codes and notices go: email, push or both (push needs a URL)")
    ] = None,
    set_url: Annotated[
        bool, typer.Option("--set-url", help="Ask for a new apprise URL (hidden input, or one line on stdin)")
    ] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Forget the push URL; codes and notices by e-mail")] = False,
) -> None:
    """A person's push channel (an apprise URL: ntfy, Telegram, Pushover, ...). The URL holds the
    channel's token: it is read from a hidden prompt, never from the command line (shell history,
    `ps`), stored sealed and never printed."""
    from smartdoor.people import service as people

    url = "" if remove else None
    if set_url and not remove:
        url = typer.prompt("Push URL", hide_input=True).strip()

    async def go(db, settings):
        after = await people.set_push(db, settings.keyring(), person_id=person_id, url=url, delivery=delivery)
        changed = (["push_url"] if url is not None else []) + (["delivery"] if delivery else [])
        await _audited(db, "person_updated", person=person_id, changed=changed, delivery=after.get("delivery", "email"),
                       push_service=after.get("push_service"))  # fmt: skip
        return after

    after = run_with_db(go)
    typer.echo(f"{person_id}: codes and notices by {after.get('delivery', 'email')}; push: "
               f"{after.get('push_service') or 'none'}")  # fmt: skip


@admin_app.command("create")
def admin_create(
    email: str,
    name: Annotated[str | None, typer.Option(help="Their name (default: the e-mail address's local part)")] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Where the admin pages are reached (default: ADMIN_URL, else http://localhost:8000)"),
    ] = None,
) -> None:
    """Make an administrator (or give an existing one a new link) and print a one-time set-up
    link where they set a password and register a passkey."""
    from smartdoor.admin.setup_links import LINK_LIFETIME, create_link, link_url
    from smartdoor.people import service as people

    async def go(db, settings):
        person = await people.find_by_email(db, email)
        if person is None:
            person = await people.add_person(
                db, name=name or email.split("@")[0], email=email, role="admin", now=_now()
            )
            await _audited(db, "person_added", person=person["_id"], role="admin")
        elif person["role"] != "admin" or not person["active"]:
            raise DomainError(f"{person['email']} is a {person['role']}{'' if person['active'] else ' (disabled)'}: "
                              "change that in the admin app, or use another address")  # fmt: skip
        token = await create_link(db, person_id=person["_id"], by="cli", now=_now())
        await _audited(db, "setup_link_made", person=person["_id"])
        return person, link_url(url or settings.admin_url or "http://localhost:8000", token)

    person, link = run_with_db(go)
    hours = int(LINK_LIFETIME.total_seconds() // 3600)
    typer.echo(
        f"administrator: {person['name']} <{person['email']}> ({person['_id']})\n"
        f"Open this link within {hours} hours to set a password and a passkey (it works once):\n{link}"
    )


@app.command()
def audit(
    door: Annotated[str | None, typer.Option(help="Only this door id")] = None,
    person: Annotated[str | None, typer.Option(help="Only events naming this person id")] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time (UTC unless it says), e.g. 2026-11-25T08:00")] = None,
    until: Annotated[datetime | None, typer.Option(help="ISO time: only events before it")] = None,
    outcome: Annotated[str | None, typer.Option(help="success, failure, refused or info")] = None,
    reason: Annotated[str | None, typer.Option(help="e.g. outside_schedule, expired_grant, wrong_code")] = None,
    event: Annotated[str | None, typer.Option(help="e.g. verify, code_request, remote_command")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or jsonl")] = "table",
    limit: Annotated[int, typer.Option(help="At most this many events")] = 1000,
) -> None:
    """Show the audit trail, oldest first."""
    if fmt not in ("table", "csv", "jsonl"):
        typer.echo("smartdoor: --format is table, csv or jsonl", err=True)
        raise typer.Exit(2)
    since, until = (t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t for t in (since, until))
    events = run_with_db(
        lambda db, s: audit_service.query(
            db, door=door, person=person, since=since, until=until, outcome=outcome, reason=reason,
            event_name=event, limit=limit,
            # where older events are not expected: the walk starts there (it only saves reading)
            expected_oldest=_now() - timedelta(days=s.audit_retention_days),
        )
    )  # fmt: skip
    sys.stdout.write(audit_service.export(events, fmt))


# --- door settings and remote commands ----------------------------------------------------------


@door_app.command("set")
def door_set(
    door_id: str,
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone its grants' schedules are read in, e.g. Europe/Berlin")
    ] = None,
    shared_codes: Annotated[
        bool | None,
        typer.Option("--shared-codes/--no-shared-codes", help="Codes for whoever presses * or # (to the recipients)"),
    ] = None,
    remote_unlock: Annotated[
        bool | None, typer.Option("--remote-unlock/--no-remote-unlock", help="May be unlocked with `door command`")
    ] = None,
    watch: Annotated[
        list[str] | None, typer.Option("--watch", help="A person id mailed on unlocks and lockouts (repeat; replaces)")
    ] = None,
    no_watchers: Annotated[bool, typer.Option("--no-watchers", help="Nobody watches this door")] = False,
) -> None:
    """Change a door's time zone, shared codes, remote unlocking or watchers."""
    if watch and no_watchers:
        typer.echo("smartdoor: --watch and --no-watchers exclude each other", err=True)
        raise typer.Exit(2)
    watchers = [] if no_watchers else watch or None

    async def go(db, settings):
        changed = await doors.update_settings(
            db, door_id=door_id, timezone=timezone, shared_codes=shared_codes, remote_unlock=remote_unlock,
            watchers=watchers,
        )  # fmt: skip
        await _audited(db, "door_settings", door=door_id, **changed)
        return changed

    changed = run_with_db(go)
    typer.echo(f"{door_id}: " + ", ".join(f"{k}={v}" for k, v in changed.items()))


@door_app.command("command")
def door_command(
    door_id: str,
    action: Annotated[str, typer.Argument(help="lock or unlock")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Lock or unlock a door from afar: it acts on its next state report and confirms."""

    async def go(db, settings):
        command = await doors.queue_command(db, door_id=door_id, action=action, by="cli", now=_now())  # type: ignore[arg-type]
        await _audited(db, "remote_command", door=door_id, action=action, command=command["id"], reason="queued")
        return command

    command = run_with_db(go)
    if as_json:
        typer.echo(json.dumps({"door": door_id, "id": command["id"], "action": command["action"]}))
    else:
        typer.echo(f"queued {action} ({command['id']}): the door carries it out with its next state report")


# --- grants ---------------------------------------------------------------------------------------


def _instant(text: str | None, tz_name: str, option: str) -> datetime | None:
    """An ISO date-time; without an offset it is the door's local time."""
    if text is None:
        return None
    from smartdoor.access.schedule import zone
    from smartdoor.errors import InvalidInput

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: not an ISO date and time, e.g. 2026-12-24T18:00") from None
    return value if value.tzinfo else value.replace(tzinfo=zone(tz_name))


def _grant_row(g: dict) -> dict:
    from smartdoor.access.schedule import describe

    return {
        "id": g["_id"], "person": g["person"], "door": g["door"], "actions": g["actions"],
        "valid_from": g["valid_from"].isoformat() if g.get("valid_from") else None,
        "valid_until": g["valid_until"].isoformat() if g.get("valid_until") else None,
        "schedule": [describe(w) for w in g["schedule"]] if g.get("schedule") else None,
        "max_uses": g.get("max_uses"), "uses": g.get("uses", 0),
    }  # fmt: skip


@grant_app.command("add")
def grant_add(
    person: Annotated[str, typer.Argument(help="Person id")],
    door: Annotated[str, typer.Argument(help="Door id")],
    actions: Annotated[str, typer.Option(help="lock, unlock or lock,unlock")],
    valid_from: Annotated[
        str | None, typer.Option("--from", help="ISO date-time; without an offset, the door's local time")
    ] = None,
    valid_until: Annotated[str | None, typer.Option("--until", help="ISO date-time (not included)")] = None,
    schedule: Annotated[
        list[str] | None, typer.Option("--schedule", help='A weekly window, e.g. "mon-fri 09:00-17:00" (repeat)')
    ] = None,
    max_uses: Annotated[int | None, typer.Option(help="At most this many codes used (e.g. a guest)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Let a person lock and/or unlock a door: from/until, in weekly windows, at most N times."""
    from smartdoor.access import service as access
    from smartdoor.access.schedule import parse_window

    async def go(db, settings):
        tz_name = (await doors.get_door(db, door)).get("timezone") or "UTC"
        windows = [w for text in schedule for w in parse_window(text)] if schedule else None
        grant = await access.add_grant(
            db, person_id=person, door_id=door, actions=[a.strip() for a in actions.split(",") if a.strip()],
            valid_from=_instant(valid_from, tz_name, "--from"), valid_until=_instant(valid_until, tz_name, "--until"),
            schedule=windows, max_uses=max_uses, now=_now(),
        )  # fmt: skip
        await _audited(db, "grant_added", person=person, door=door, grant=grant["_id"], actions=grant["actions"])
        return grant

    row = _grant_row(run_with_db(go))
    typer.echo(json.dumps(row) if as_json else f"grant id: {row['id']}")


@grant_app.command("list")
def grant_list(
    person: Annotated[str | None, typer.Option(help="Only this person's grants")] = None,
    door: Annotated[str | None, typer.Option(help="Only grants for this door")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List grants, with how often each was used."""
    from smartdoor.access import service as access

    rows = [_grant_row(g) for g in run_with_db(lambda db, s: access.list_grants(db, person_id=person, door_id=door))]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for g in rows:
        when = "; ".join(g["schedule"]) if g["schedule"] else "any time"
        dates = f" from {g['valid_from']}" if g["valid_from"] else ""
        dates += f" until {g['valid_until']}" if g["valid_until"] else ""
        uses = f"{g['uses']}/{g['max_uses']}" if g["max_uses"] is not None else str(g["uses"])
        typer.echo(f"{g['id']}  {g['person']}  {g['door']}  {','.join(g['actions']):<11} {when}{dates}  uses {uses}")


@grant_app.command("remove")
def grant_remove(grant_id: str) -> None:
    """Remove a grant; a code already mailed under it stops working."""
    from smartdoor.access import service as access

    async def go(db, settings):
        grant = await access.get_grant(db, grant_id)
        await access.remove_grant(db, grant_id=grant_id, now=_now())
        await _audited(db, "grant_removed", person=grant["person"], door=grant["door"], grant=grant_id)

    run_with_db(go)
    typer.echo(f"removed {grant_id}")


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
        summary = run_with_db(go, load_settings())
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
