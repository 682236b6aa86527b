"""One webhook delivery attempt: the body signed for the URL it goes to (signature.py) and
POSTed with one deadline (WEBHOOK_TIMEOUT_SECONDS). Any 2xx is delivered; anything else (another
status, a refused connection, the deadline) is a failure with a short reason, retried by the
outbox. Redirects are not followed: the signature names the configured URL, and a delivery goes
nowhere else. A reason or log line names the receiver by its host, never the whole URL (its
path or query may hold a token)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import httpx

from smartdoor.webhooks import signature

log = logging.getLogger(__name__)

# httpx logs every request's full URL (INFO) and httpcore its steps (DEBUG): a webhook URL's path
# or query may hold a token, so in this process they say only what goes wrong (WARNING and up)
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


NOT_CONFIGURED = "webhook URL no longer configured"


def host_of(url: str) -> str:
    try:
        return httpx.URL(url).host or "?"
    except (httpx.InvalidURL, ValueError):
        return "?"


class WebhookSender:
    def __init__(self, *, urls: list[str], key: bytes, timeout_seconds: float) -> None:
        self.urls, self._key, self.timeout_seconds = urls, key, timeout_seconds
        self._client: httpx.AsyncClient | None = None

    def configured(self, url: str) -> bool:
        return url in self.urls

    async def send(self, url: str, body: bytes, *, now: datetime) -> str | None:
        """None when the receiver answered 2xx, else a short reason (never raises)."""
        headers = signature.sign(key=self._key, url=url, body=body, created=int(now.timestamp()))
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                response = await self._client.post(url, content=body, headers=headers, timeout=self.timeout_seconds)
        except (httpx.HTTPError, OSError, TimeoutError) as failed:
            reason = type(failed).__name__
        else:
            if response.is_success:
                return None
            reason = f"HTTP {response.status_code}"
        log.warning("webhook delivery to %s failed: %s", host_of(url), reason)
        return f"webhook delivery failed ({reason})"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
