"""When a door counts as online: one rule for the admin pages, Home Assistant and /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from doorlogic.settings import DEFAULTS

# A door reports at least every HEARTBEAT_SECONDS (the firmware's default, 30 s): two missed
# reports and half a minute's slack. Home Assistant shows a door unavailable after this, so it
# is kept short; a door configured to report less often shows offline between its reports.
HEARTBEAT = timedelta(seconds=cast(int, DEFAULTS["HEARTBEAT_SECONDS"]))
ONLINE_WITHIN = 2 * HEARTBEAT + timedelta(seconds=30)


def is_online(door: Mapping[str, Any], *, now: datetime) -> bool:
    """True while the door's last signed state report (`state_at`) is recent."""
    seen = door.get("state_at")
    return seen is not None and now - seen <= ONLINE_WITHIN


def online_since(now: datetime) -> datetime:
    """The oldest `state_at` of a door that is online now (for a database query)."""
    return now - ONLINE_WITHIN
