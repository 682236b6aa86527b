"""`smartdoor person push`: the URL comes from a hidden prompt (here stdin), never from the
command line, and is printed nowhere."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.backend.cli.test_cli import SMARTDOOR, run

pytestmark = pytest.mark.subprocess
TOKEN = "s3cr3t-t0ken-cli"


def test_person_push_reads_the_url_hidden_and_never_prints_it(env, running_db):
    person = json.loads(run(env, "person", "add", "Alice", "--email", "alice@example.com", "--json").stdout)
    given = subprocess.run(
        [*SMARTDOOR, "person", "push", person["id"], "--set-url", "--delivery", "both"], env=env,
        input=f"ntfy://{TOKEN}\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "by both; push: ntfy (ntfy://…)" in given.stdout and TOKEN not in given.stdout + given.stderr
    bad = subprocess.run([*SMARTDOOR, "person", "push", person["id"], "--set-url"], env=env,
                         input=f"nope://{TOKEN}\n", capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1 and "apprise does not understand" in bad.stderr and TOKEN not in bad.stderr
    removed = run(env, "person", "push", person["id"], "--remove").stdout
    assert "by email; push: none" in removed
    audit = run(env, "audit", "--person", person["id"], "--format", "jsonl").stdout
    assert TOKEN not in audit and audit.count("person_updated") == 2
