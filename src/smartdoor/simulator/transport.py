"""The simulated door's HTTP transport on CPython, with the interface the firmware's
DoorClient expects."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_transport(timeout_s: float = 20.0):
    """The device's blocking transport over real HTTP (urllib), bounded by the call's
    remaining deadline (timeout_ms) when given. Returns (status, lower-case headers, body)
    for every reply, 4xx/5xx included; raises OSError when the server cannot be reached.
    Environment proxies are ignored: the door talks to its backend directly."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def transport(method: str, url: str, headers: dict, body: bytes | None, timeout_ms: int | None = None):
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            limit = timeout_s if timeout_ms is None else max(0.1, min(timeout_s, timeout_ms / 1000))
            with opener.open(request, timeout=limit) as response:
                return response.status, _lower(response.headers), response.read()
        except urllib.error.HTTPError as reply:  # a reply, just not 2xx
            try:
                body_bytes = reply.read()
            finally:
                reply.close()
            return reply.code, _lower(reply.headers), body_bytes
        except OSError:  # URLError, refused, reset, timeout: all OSError
            raise
        except Exception as exc:  # e.g. a malformed status line: no usable server
            raise OSError(f"http: {exc!r}") from exc

    return transport


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in (headers.items() if headers is not None else ())}
