"""Which connections the server takes: at most `max_connections` at once, and at most
`max_per_client` from one client, so a single host cannot use the whole budget."""

from __future__ import annotations

import collections
import ipaddress
from dataclasses import dataclass

from smartdoor.settings import Settings


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int
    max_per_client: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_connections=settings.max_connections,
            max_per_client=min(settings.max_connections_per_client, settings.max_connections),
        )


def client_key(client: tuple[str, int] | None) -> str:
    """What counts as one client: an IPv4 address, or an IPv6 /64 (one host usually owns a whole
    /64, so counting single IPv6 addresses would let it open a connection from each)."""
    if client is None:  # a Unix socket: everyone on it is one local client
        return "local"
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return client[0]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ConnectionLedger:
    """Counts open connections, in total and per client. Not thread-safe: one event loop owns it."""

    def __init__(self, *, max_connections: int, max_per_client: int) -> None:
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.total = 0
        self.per_client: collections.Counter[str] = collections.Counter()

    def admit(self, key: str) -> str | None:
        """None when the connection is taken (and counted), else why not: `server_full` or
        `client_full`."""
        if self.total >= self.max_connections:
            return "server_full"
        if self.per_client[key] >= self.max_per_client:
            return "client_full"
        self.total += 1
        self.per_client[key] += 1
        return None

    def release(self, key: str) -> None:
        self.total -= 1
        self.per_client[key] -= 1
        if self.per_client[key] <= 0:
            del self.per_client[key]
