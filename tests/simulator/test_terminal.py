"""`smartdoor simulate`: the terminal simulator against a live backend."""

from __future__ import annotations

import io
import time

from typer.testing import CliRunner

from smartdoor.cli import app
from smartdoor.simulator.terminal import run_simulator
from tests.conftest import code_in


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_terminal_simulator_unlocks(backend):
    door_id, secret = backend.add_door()
    out = io.StringIO()

    def typed():
        yield "*#\n"  # unlock, no person number: the door's shared codes
        code = code_in(backend.sink.wait_for(1, timeout=10)[0])
        yield code + "\n"
        wait_until(lambda: "Door Unlocked" in out.getvalue())
        yield "q\n"

    assert run_simulator(backend.url, door_id, secret, stdin=typed(), out=out) == 0
    text = out.getvalue()
    assert "|Press # or *    |" in text and "OTP Sent!" in text
    assert "|Door Unlocked   |   servo  0° unlocked" in text
    assert "(buzzer: action)" in text


def test_simulate_command_refuses_a_bad_secret():
    result = CliRunner().invoke(app, ["simulate", "--url", "http://127.0.0.1:9", "--door", "d1", "--secret", "nothex"])
    assert result.exit_code == 2
