"""A real mosquitto broker per test (it is restarted and its retained messages checked)."""

from __future__ import annotations

import pytest

from tests.backend.integrations.mqtt_broker import Mosquitto


@pytest.fixture
def mosquitto(tmp_path_factory):
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()
