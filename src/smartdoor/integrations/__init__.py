"""What Smart Door tells other systems: Home Assistant over MQTT (integrations.mqtt) and
Prometheus metrics (integrations.metrics). Both are off unless configured (MQTT_URL,
METRICS_TOKEN) and cost the device API nothing then.

The app calls in at two places (smartdoor.main): install() when it builds the app (the /metrics
route and its timing middleware, outermost so that it sees every reply) and start() when it
starts (the audit tap and the MQTT bridge's task). Everything else they learn from the audit
events this process writes (the tap: smartdoor.audit.service.record_many) and from the database."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings itself imports integrations.mqtt.broker
    from fastapi import FastAPI

    from smartdoor.api.deps import Services
    from smartdoor.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """At build time, after every other middleware (so this one is outermost)."""
    if settings.metrics_token.get_secret_value():
        from smartdoor.integrations import metrics

        metrics.install(app, settings)


def start(app: FastAPI, services: Services) -> list[asyncio.Task]:
    """At start-up, with the app's services: the tasks to cancel when it stops."""
    tasks: list[asyncio.Task] = []
    state = getattr(app.state, "metrics", None)
    if state is not None:
        services.db.audit_taps.append(state.observe_audit)
        state.bind(services)
    broker = services.settings.mqtt_broker
    if broker is not None:
        from smartdoor.integrations.mqtt.bridge import MqttBridge

        bridge = MqttBridge(services, broker)
        services.db.audit_taps.append(bridge.observe_audit)
        app.state.mqtt = bridge
        if state is not None:
            state.mqtt = bridge
        tasks.append(asyncio.create_task(bridge.run(), name="mqtt-bridge"))
    return tasks
