"""The simulated door's HTTP transport on CPython, with the interface the firmware's
DoorClient expects."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_transport(timeout_s: float = 10.0):
    """DoorClient transport over real HTTP (urllib). Returns (status, lower-case headers, body)
    for every reply, 4xx/5xx included; raises OSError when the server cannot be reached.
    Environment proxies are ignored: the door talks to its backend directly."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def transport(method: str, url: str, headers: dict, body: bytes | None):
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            with opener.open(request, timeout=timeout_s) as response:
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
