"""Sending one push message through apprise behind a one-method interface.

apprise does its network calls in threads of its own (its async_notify never blocks the event
loop); each send also has one deadline (PUSH_TIMEOUT_SECONDS), given to apprise and kept here
too, so a channel that never answers costs a waiting request that long and no more. A failure
comes back as a short reason naming the service only: apprise's own messages may quote the URL,
and so its log lines are kept out of ours (the logger `apprise` does not propagate)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import apprise

log = logging.getLogger(__name__)

# apprise logs what it sends to, token included, at several levels: none of it reaches our log
_apprise_log = logging.getLogger("apprise")
_apprise_log.propagate = False
_apprise_log.addHandler(logging.NullHandler())


class Pusher(Protocol):
    async def send(self, url: str, *, title: str, body: str) -> str | None:
        """None when delivered, else a short reason without the URL (never raises)."""


class ApprisePusher:
    def __init__(self, *, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    async def send(self, url: str, *, title: str, body: str) -> str | None:
        channel = apprise.Apprise()
        try:
            if not channel.add(url):  # checked when it was set; a newer apprise may read it otherwise
                return "push delivery failed (URL not understood)"
            service = next(iter(channel)).service_name
        except Exception:
            return "push delivery failed (URL not understood)"
        try:
            async with asyncio.timeout(self._timeout + 1):  # apprise's own deadline, and ours behind it
                result = await channel.async_notify(body=body, title=title, timeout=self._timeout)
        except TimeoutError:
            reason = "timed out"
        except Exception as failed:  # never the caller's problem; the type alone
            reason = type(failed).__name__
        else:
            if result:
                return None
            reason = getattr(getattr(result, "status", None), "name", "failed").lower()
        log.warning("push delivery through %s failed: %s", service, reason)
        return f"push delivery failed ({service}: {reason})"
