"""One settings class. The original prototype's .env names are kept, so an existing file still works."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import stat
import warnings
from functools import cached_property
from pathlib import Path

import httpx
from dotenv import dotenv_values
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartdoor.crypto import Keyring
from smartdoor.doors.lockout import Limits
from smartdoor.integrations.mqtt.broker import Broker, parse_broker_url
from smartdoor.mail.header_values import HeaderValueError, check_address, check_door_name
from smartdoor.store.private_files import secure_data_dir, write_private

ENV_FILE = ".env"
# what makes a .env worth protecting
SECRET_NAMES = ("secret_key", "secret_key_old", "mail_password", "mqtt_url", "metrics_token", "webhook_secret")
PLACEHOLDER_KEYS = {"", "changeme", "change-me", "change_me", "secret", "your_secret_key"}
MIN_SECRET_KEY_LENGTH = 32


class UnsafeSettings(ValueError):
    """Raised with one line that says what to fix."""


class Settings(BaseSettings):
    # hide_input_in_errors: a refusal must not print the input, which holds SECRET_KEY, MQTT_URL…
    model_config = SettingsConfigDict(
        env_file=ENV_FILE, extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    # mail (the original prototype's names)
    mail_username: str = ""
    mail_password: SecretStr = SecretStr("")
    mail_from: str = "smartdoor@localhost"
    mail_server: str = ""
    mail_port: int = 587
    mail_starttls: bool = True
    mail_ssl_tls: bool = False
    mail_timeout_seconds: float = Field(8.0, gt=0, le=60)  # the whole send: connect, TLS, login, data
    mail_ca_file: str = ""  # extra CA bundle, e.g. for a self-signed relay
    recipients: str = ""
    push_timeout_seconds: float = Field(8.0, gt=0, le=60)  # one push message (apprise), start to end

    mongo_url: str | None = None
    mongo_db: str = "smart_door"
    secret_key: SecretStr = SecretStr("")
    secret_key_old: SecretStr = SecretStr("")  # only while rotating SECRET_KEY (smartdoor rotate-key)
    data_dir: Path = Path("./data")
    demo_mode: bool = False

    # the original Arduino sketch's unauthenticated routes (off by default)
    legacy_api: bool = False
    legacy_door: str = "legacy"
    legacy_allowed_clients: str = ""  # comma-separated IP addresses / CIDRs; required with LEGACY_API
    legacy_code_digits: int = Field(4, ge=4, le=10)  # the sketch reads exactly 4 keys
    legacy_hard_lockout_failures: int = Field(10, ge=1)

    # code engine: see docs/architecture.md
    code_digits: int = Field(6, ge=4, le=10)
    code_ttl_seconds: int = Field(120, ge=30, le=600)
    max_attempts_per_code: int = Field(5, ge=1, le=20)
    max_requests_per_window: int = Field(5, ge=1, le=100)
    request_window_seconds: int = Field(900, ge=60)
    failures_per_lockout: int = Field(5, ge=1)
    lockout_base_seconds: int = Field(30, ge=1)
    lockout_max_seconds: int = Field(3600, ge=1)
    hard_lockout_failures: int = Field(100, ge=1)

    # a remote lock/unlock not picked up by the door within this long is dropped, so a door that was
    # offline does not act on an old command when it comes back
    remote_command_ttl_seconds: int = Field(600, ge=30, le=86400)

    # device protocol
    clock_skew_seconds: int = Field(300, ge=30, le=3600)
    max_body_bytes: int = 16 * 1024

    # slow and many clients, enforced by the server layer (smartdoor.server): a request's header
    # must be complete this long after the connection opened (or the previous reply was sent),
    # its body this long after the header's end; connections beyond the caps are refused
    header_timeout_seconds: float = Field(10, gt=0, le=300)
    body_timeout_seconds: float = Field(30, gt=0, le=600)
    max_connections: int = Field(512, ge=1)
    max_connections_per_client: int = Field(64, ge=1)

    cors_origins: str = ""  # comma-separated; empty = CORS off

    # webhooks (smartdoor.webhooks): door events as signed JSON to these URLs, retried from the outbox
    webhook_urls: str = ""  # comma-separated http(s) URLs; empty = no webhooks
    webhook_secret: SecretStr = SecretStr("")  # the HMAC key receivers verify with; required with URLs
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)  # one delivery attempt, start to end

    # the admin web app (smartdoor.admin)
    admin_url: str = ""  # its public address, e.g. https://door.example.com: passkeys' origin, set-up links
    admin_idle_minutes: int = Field(30, ge=1, le=24 * 60)  # a session unused this long ends
    admin_session_hours: int = Field(12, ge=1, le=24 * 30)  # and any session ends this long after login
    admin_secure_cookies: bool = False  # always Secure cookies (else only on https requests)
    trusted_proxies: str = ""  # comma-separated IPs / CIDRs whose X-Forwarded-For / -Proto are believed
    admin_max_live_streams: int = Field(16, ge=1, le=1000)  # open live audit feeds, all sessions together
    audit_retention_days: int = Field(730, ge=1)  # older audit events are purged (TTL index)
    db_timeout_ms: int = 2000
    # a database operation that takes longer fails (503) instead of holding the request; 0 = no limit
    db_operation_timeout_ms: int = Field(5000, ge=0)
    # writes are acknowledged once on disk (journaled, see store.database); false only trades the
    # last moments' writes at a crash or power cut for speed on a disk whose syncs are very slow
    db_journal: bool = True
    # the embedded database's WiredTiger cache; more keeps a long audit trail in memory
    embedded_db_cache_mb: int = Field(256, ge=32, le=65536)
    # serve warns (in /health, and in the log at most once an hour) above this use of DATA_DIR's filesystem
    disk_warn_percent: float = Field(90, gt=0, le=100)

    # Home Assistant over MQTT and Prometheus metrics (smartdoor.integrations): both off unless set
    mqtt_url: SecretStr = SecretStr("")  # mqtt://user:password@host:port, mqtts:// for TLS
    mqtt_discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_\-]{1,64}(/[A-Za-z0-9_\-]{1,64})*$")
    mqtt_topic_prefix: str = Field("smartdoor", pattern=r"^[A-Za-z0-9_\-]{1,64}(/[A-Za-z0-9_\-]{1,64})*$")
    mqtt_allow_unlock: bool = False  # Home Assistant may unlock (where the door allows remote unlocking)
    mqtt_person_names: bool = False  # "last opened by" names the person (else their id only)
    mqtt_ca_file: str = ""  # extra CA bundle for mqtts:// with a private CA
    mqtt_refresh_seconds: float = Field(5.0, ge=0.1, le=60)  # how often changes made by other processes are seen
    mqtt_lease_seconds: float = Field(30.0, ge=1, le=600)  # one process publishes; another takes over after this
    metrics_token: SecretStr = SecretStr("")  # bearer token for /metrics; empty = no /metrics

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.mail_starttls and self.mail_ssl_tls:
            raise UnsafeSettings("MAIL_STARTTLS and MAIL_SSL_TLS are exclusive: set one of them to false")
        key = self.secret_key.get_secret_value()
        if not self.demo_mode and (key.lower() in PLACEHOLDER_KEYS or len(key) < MIN_SECRET_KEY_LENGTH):
            raise UnsafeSettings(
                "SECRET_KEY is missing, a placeholder or shorter than 32 characters: "
                "set it to e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        if self.legacy_api and not self.legacy_networks:
            raise UnsafeSettings(
                "LEGACY_API=true needs LEGACY_ALLOWED_CLIENTS: the addresses (or CIDRs) of the doors that run "
                "the original Arduino sketch; its routes cannot be authenticated"
            )
        try:  # both end up in mail headers: refuse now, not at the first code request
            for address in self.recipients.split(","):
                if address.strip():
                    check_address(address)
        except HeaderValueError as refused:
            raise UnsafeSettings(f"RECIPIENTS: {refused}") from None
        try:
            check_door_name(self.legacy_door)
        except HeaderValueError as refused:
            raise UnsafeSettings(f"LEGACY_DOOR: {refused}") from None
        if self.admin_url and not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?", self.admin_url.rstrip("/")):
            raise UnsafeSettings("ADMIN_URL: scheme and host only, e.g. https://door.example.com")
        _ = self.trusted_proxy_networks  # a malformed entry refuses the start
        _ = self.mqtt_broker  # a malformed MQTT_URL refuses the start (its message never holds the password)
        if self.metrics_token.get_secret_value() and len(self.metrics_token.get_secret_value()) < 16:
            raise UnsafeSettings("METRICS_TOKEN: at least 16 characters, e.g. the output of `openssl rand -hex 24`")
        if self.webhook_url_list and len(self.webhook_secret.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise UnsafeSettings(
                "WEBHOOK_URLS needs WEBHOOK_SECRET, at least 32 characters (receivers verify signatures with it): "
                "e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        if self.code_digits < 6:
            warnings.warn("CODE_DIGITS below 6 makes codes easier to guess", stacklevel=2)
        return self

    @cached_property
    def recipient_list(self) -> list[str]:
        return [r.strip() for r in self.recipients.split(",") if r.strip()]

    @cached_property
    def webhook_url_list(self) -> list[str]:
        """WEBHOOK_URLS checked; a refusal names the URL's place in the list, never the URL (it
        may hold a token)."""
        return [_webhook_url(url.strip(), n) for n, url in enumerate(self.webhook_urls.split(","), 1) if url.strip()]

    @cached_property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @cached_property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _networks(self.trusted_proxies, "TRUSTED_PROXIES")

    @cached_property
    def mqtt_broker(self) -> Broker | None:
        """The MQTT broker of MQTT_URL (None: Home Assistant integration off)."""
        url = self.mqtt_url.get_secret_value()
        if not url:
            return None
        try:
            return parse_broker_url(url)
        except ValueError as refused:
            raise UnsafeSettings(f"MQTT_URL: {refused}") from None

    @cached_property
    def legacy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        networks = []
        for item in self.legacy_allowed_clients.split(","):
            if item.strip():
                try:
                    networks.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    raise UnsafeSettings(
                        f"LEGACY_ALLOWED_CLIENTS: not an IP address or CIDR: {item.strip()!r}"
                    ) from None
        return networks

    def limits(self, *, legacy: bool = False) -> Limits:
        return Limits(
            max_attempts_per_code=self.max_attempts_per_code,
            failures_per_lockout=self.failures_per_lockout,
            lockout_base_seconds=self.lockout_base_seconds,
            lockout_max_seconds=self.lockout_max_seconds,
            hard_lockout_failures=self.legacy_hard_lockout_failures if legacy else self.hard_lockout_failures,
        )

    def keyring(self) -> Keyring:
        old = self.secret_key_old.get_secret_value()
        return Keyring(self.master_key(), old.encode() if old else None)

    @property
    def mail_configured(self) -> bool:
        return bool(self.mail_server)

    def master_key(self) -> bytes:
        """The server key everything is derived from; in demo mode one is kept in DATA_DIR."""
        key = self.secret_key.get_secret_value()
        if key and key.lower() not in PLACEHOLDER_KEYS:
            return key.encode()
        path = self.data_dir / "demo-secret-key"
        if not path.exists():
            secure_data_dir(self.data_dir)
            write_private(path, secrets.token_hex(32).encode())
        return path.read_text().strip().encode()


def _webhook_url(url: str, place: int) -> str:
    """The URL as it will be requested and signed, normalised (lower-case scheme and host, no
    default port, `/` for an empty path), so the signed target URI is what the request names."""
    refusal = UnsafeSettings(f"WEBHOOK_URLS: URL number {place} is not an http:// or https:// URL with a host")
    if len(url) > 2048 or not url.isprintable() or any(c.isspace() for c in url):
        raise refusal
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise refusal from None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.fragment:
        raise refusal
    return str(parsed.copy_with(path=parsed.path or "/"))


def _networks(text: str, name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in text.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise UnsafeSettings(f"{name}: not an IP address or CIDR: {item.strip()!r}") from None
    return networks


def exposed_env_file(path: Path = Path(ENV_FILE)) -> str | None:
    """One warning line when the .env Settings reads holds a secret and group or others may read it."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        names = {name.lower() for name, value in dotenv_values(path).items() if value}
    except OSError:  # absent or not ours to read: Settings does not use it either
        return None
    held = [name.upper() for name in SECRET_NAMES if name in names]
    if not held or not mode & 0o077:
        return None
    return (
        f"{path.resolve()} holds {', '.join(held)} but is readable by other users (mode {mode:04o}): chmod 600 {path}"
    )
