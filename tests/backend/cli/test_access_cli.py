"""`smartdoor grant …`, `door set`, `door command` and `audit --person` as a user runs them."""

from __future__ import annotations

import json

import pytest

from tests.backend.cli.test_cli import run

pytestmark = pytest.mark.subprocess


def test_grants_door_settings_remote_commands_and_the_audit(env, running_db):
    door = json.loads(run(env, "door", "add", "Front door", "--recipient", "a@example.com", "--json").stdout)["id"]
    alice = json.loads(run(env, "person", "add", "Alice", "--email", "alice@example.com", "--json").stdout)["id"]
    gus = json.loads(run(env, "person", "add", "Gus", "--email", "gus@example.com", "--role", "guest", "--json").stdout)
    out = run(env, "door", "set", door, "--timezone", "Europe/Berlin", "--no-shared-codes", "--no-remote-unlock",
              "--watch", alice).stdout  # fmt: skip
    assert "timezone=Europe/Berlin" in out and "shared_codes=False" in out
    listed = json.loads(run(env, "door", "list", "--json").stdout)[0]
    assert (listed["timezone"], listed["shared_codes"], listed["remote_unlock"], listed["watchers"]) == (
        "Europe/Berlin", False, False, [alice],
    )  # fmt: skip

    staff = json.loads(run(env, "grant", "add", alice, door, "--actions", "lock,unlock", "--schedule",
                           "mon-fri 09:00-17:00", "--schedule", "sat 22:00-02:00", "--json").stdout)  # fmt: skip
    assert staff["schedule"] == ["mon-fri 09:00-17:00", "sat 22:00-24:00", "sun 00:00-02:00"]
    guest = json.loads(run(env, "grant", "add", gus["id"], door, "--actions", "unlock", "--from", "2026-12-24T14:00",
                           "--until", "2026-12-27T11:00+00:00", "--max-uses", "3", "--json").stdout)  # fmt: skip
    # a time without an offset is the door's: 14:00 in Berlin in winter is 13:00 UTC
    assert guest["valid_from"] == "2026-12-24T13:00:00+00:00" and guest["valid_until"] == "2026-12-27T11:00:00+00:00"
    assert (guest["max_uses"], guest["uses"]) == (3, 0)
    rows = json.loads(run(env, "grant", "list", "--door", door, "--json").stdout)
    assert [r["id"] for r in rows] == [staff["id"], guest["id"]]
    assert [r["id"] for r in json.loads(run(env, "grant", "list", "--person", gus["id"], "--json").stdout)] == [
        guest["id"]
    ]
    assert "uses 0/3" in run(env, "grant", "list").stdout

    refused = run(env, "door", "command", door, "unlock", check=False)
    assert refused.returncode == 1 and "may not be unlocked remotely" in refused.stderr
    queued = json.loads(run(env, "door", "command", door, "lock", "--json").stdout)
    assert queued["action"] == "lock" and queued["id"].startswith("c")

    run(env, "grant", "remove", guest["id"])
    assert [r["id"] for r in json.loads(run(env, "grant", "list", "--json").stdout)] == [staff["id"]]

    trail = [json.loads(line) for line in run(env, "audit", "--format", "jsonl").stdout.splitlines()]
    admin = [(e["event"], e.get("person")) for e in trail if e.get("actor") == "cli"]
    assert ("grant_added", gus["id"]) in admin and ("grant_removed", gus["id"]) in admin
    assert ("door_settings", None) in admin and ("remote_command", None) in admin
    mine = [
        json.loads(line) for line in run(env, "audit", "--person", gus["id"], "--format", "jsonl").stdout.splitlines()
    ]
    assert {e["event"] for e in mine} == {"person_added", "grant_added", "grant_removed"}
    assert "person" in run(env, "audit").stdout.splitlines()[0]  # the table has the column


BAD = [
    ("grant", "add", "pnobody", "DOOR", "--actions", "unlock"),
    ("grant", "add", "PERSON", "DOOR", "--actions", "open"),
    ("grant", "add", "PERSON", "DOOR", "--actions", "unlock", "--schedule", "someday 9-5"),
    ("grant", "add", "PERSON", "DOOR", "--actions", "unlock", "--from", "christmas"),
    ("grant", "add", "PERSON", "DOOR", "--actions", "unlock", "--max-uses", "0"),
    ("grant", "remove", "gnothing"),
    ("door", "set", "DOOR", "--timezone", "Moon/Tranquility"),
    ("door", "set", "DOOR", "--watch", "pnobody"),
    ("door", "set", "DOOR"),
    ("door", "command", "DOOR", "open"),
]


def test_bad_input_is_one_line_not_a_traceback(env, running_db):
    door = json.loads(run(env, "door", "add", "Door", "--json").stdout)["id"]
    person = json.loads(run(env, "person", "add", "P", "--email", "p@example.com", "--json").stdout)["id"]
    for args in BAD:
        p = run(env, *[{"DOOR": door, "PERSON": person}.get(a, a) for a in args], check=False)
        assert p.returncode == 1 and p.stderr.startswith("smartdoor: "), (args, p.stderr)
        assert "Traceback" not in p.stderr and len(p.stderr.splitlines()) == 1, (args, p.stderr)
