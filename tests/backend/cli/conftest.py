"""The environment of a `smartdoor` command as a user runs it, and an embedded database already
running for the commands to share."""

from __future__ import annotations

import os
import uuid

import pytest

from smartdoor.store import embedded
from tests.conftest import TEST_SECRET_KEY


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "MONGO_"))}
    e.update(DATA_DIR=str(tmp_path / "data"), SECRET_KEY=TEST_SECRET_KEY)
    return e


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory):
    """A DATA_DIR whose embedded database runs for the whole session (starting one costs seconds)."""
    data_dir = tmp_path_factory.mktemp("cli-shared") / "data"
    server = embedded.start_or_share(data_dir)
    yield data_dir, server
    server.stop()


@pytest.fixture
def running_db(env, shared_data_dir):
    """An embedded database already running on DATA_DIR (as a server would hold it): every
    command of the test shares it instead of starting its own. The test's env is pointed at it,
    with a database of the test's own (MONGO_DB), so no test sees another's doors or audit."""
    data_dir, server = shared_data_dir
    env.update(DATA_DIR=str(data_dir), MONGO_DB="t_cli_" + uuid.uuid4().hex[:12])
    return server
