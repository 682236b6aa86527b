"""A database that crashes at once every time must not make the supervisor spin: the waits
between starts grow, and a database that ran a while is restarted at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smartdoor.store.embedded import EmbeddedDatabaseError, EmbeddedServer
from smartdoor.store.embedded_auth import Credentials
from smartdoor.store.supervisor import DatabaseSupervisor, RestartBackoff


def test_waits_double_up_to_the_longest_and_reset_after_a_healthy_run():
    backoff = RestartBackoff(first=1, longest=60, healthy_after=60)
    assert backoff.after_death(ran_for=3600) == 0  # ran an hour: at once
    assert [backoff.after_death(ran_for=0.5) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.after_failed_start() == 60
    assert backoff.after_death(ran_for=61) == 0  # a healthy run forgives the past
    assert backoff.after_failed_start() == 1


class Stop(Exception):
    """Ends the supervisor's loop in the test."""


async def test_a_database_that_never_starts_costs_growing_waits_not_a_busy_loop(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])  # a real process that has ended
    dead.wait()
    server = EmbeddedServer(27999, Credentials("smartdoor", "x"), dead, tmp_path / "embedded-db.json")
    starts: list[int] = []
    sleeps: list[float] = []
    now = [0.0]

    async def start(preferred_port: int) -> EmbeddedServer:
        starts.append(preferred_port)
        raise EmbeddedDatabaseError("embedded database did not start; see the log")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        if len(sleeps) == 8:
            raise Stop

    supervisor = DatabaseSupervisor(
        server=server,
        db=None,  # never reached: no start succeeds
        start=start,
        backoff=RestartBackoff(first=1, longest=30, healthy_after=60),
        monotonic=lambda: now[0],
        sleep=sleep,
    )
    now[0] = 5.0  # it died 5 s after its start
    with pytest.raises(Stop):
        await supervisor.run()
    assert sleeps == [1, 2, 4, 8, 16, 30, 30, 30]
    assert starts == [27999] * 7  # one start per wait, each asking for the same port first
    assert supervisor.restarts == 0 and supervisor.server is server
    assert server.exit_description() == "exit status 3"
