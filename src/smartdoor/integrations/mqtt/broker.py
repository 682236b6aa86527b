"""MQTT_URL: which broker, as whom, over TLS or not. The password lives only in Broker.password
(left out of repr) and is handed to the MQTT client alone: no message here, no log line and no
error names it."""

from __future__ import annotations

import ssl
import urllib.parse
from dataclasses import dataclass, field

PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        """For log lines: scheme, host and port (never the user's password)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def tls_context(self, ca_file: str = "") -> ssl.SSLContext | None:
        """The TLS context of an mqtts:// broker: the system's CAs (plus ca_file), the host name
        checked; None for plain mqtt://."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def parse_broker_url(url: str) -> Broker:
    """mqtt://[user[:password]@]host[:port] or mqtts://…; user and password percent-encoded.
    Raises ValueError with a message that never quotes the URL (it holds the password)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a URL like mqtt://user:password@host:1883") from None
    if parts.scheme not in PORTS:
        raise ValueError("the scheme is mqtt:// or mqtts:// (TLS)")
    if not parts.hostname:
        raise ValueError("no host, e.g. mqtt://user:password@192.168.1.10:1883")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("host and port only, no path or query")
    if port == 0:
        raise ValueError("port 0 is not a port")
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("a password needs a user name")
    return Broker(
        host=parts.hostname, port=port or PORTS[parts.scheme], tls=parts.scheme == "mqtts",
        username=username, password=password,
    )  # fmt: skip
