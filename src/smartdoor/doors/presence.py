"""When a door counts as online: one rule for the admin pages, Home Assistant and /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

# a door reports at least every HEARTBEAT_SECONDS (300): two missed heartbeats and a minute's slack
ONLINE_WITHIN = timedelta(minutes=11)


def is_online(door: Mapping[str, Any], *, now: datetime) -> bool:
    """True while the door's last signed state report (`state_at`) is recent."""
    seen = door.get("state_at")
    return seen is not None and now - seen <= ONLINE_WITHIN


def online_since(now: datetime) -> datetime:
    """The oldest `state_at` of a door that is online now (for a database query)."""
    return now - ONLINE_WITHIN
