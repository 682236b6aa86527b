"""Sending one push message through apprise behind a one-method interface.

apprise does its network calls in threads of its own (its async_notify never blocks the event
loop); each send also has one deadline (PUSH_TIMEOUT_SECONDS), given to apprise and kept here
too, so a channel that never answers costs a waiting request that long and no more. A failure
comes back as a short reason naming the service only: apprise's own messages may quote the URL,
and so its log lines (and urllib3's) are switched off."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)

# apprise logs the URLs it loads and posts to, token included (DEBUG), and urllib3, which sends
# for it (apprise is its only user in this process), logs request paths, where a Telegram bot's
# token sits, even in its warnings: neither writes a line here. A level above CRITICAL means no
# record is even made, whatever handlers a log set-up adds.
for _name in ("apprise", "urllib3"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)
    logging.getLogger(_name).propagate = False


class Pusher(Protocol):
    async def send(self, url: str, *, title: str, body: str) -> str | None:
        """None when delivered, else a short reason without the URL (never raises)."""


class ApprisePusher:
    def __init__(self, *, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    async def send(self, url: str, *, title: str, body: str) -> str | None:
        import apprise  # on first use: most processes (CLI commands) never push

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
