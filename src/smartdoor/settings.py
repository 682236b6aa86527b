"""One settings class. Names of the seed's .env are kept so an existing file still works."""

from __future__ import annotations

import secrets
import warnings
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_KEYS = {"", "changeme", "change-me", "change_me", "secret", "your_secret_key"}
MIN_SECRET_KEY_LENGTH = 32


class UnsafeSettings(ValueError):
    """Raised with one line that says what to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # mail (seed names)
    mail_username: str = ""
    mail_password: SecretStr = SecretStr("")
    mail_from: str = "smartdoor@localhost"
    mail_server: str = ""
    mail_port: int = 587
    mail_starttls: bool = True
    mail_ssl_tls: bool = False
    mail_timeout_seconds: float = 10.0
    mail_ca_file: str = ""  # extra CA bundle, e.g. for a self-signed relay
    recipients: str = ""

    mongo_url: str | None = None
    mongo_db: str = "smart_door"
    secret_key: SecretStr = SecretStr("")
    data_dir: Path = Path("./data")
    demo_mode: bool = False

    legacy_api: bool = False
    legacy_door: str = "legacy"

    # code engine (ARCHITECTURE.md §4)
    code_digits: int = Field(6, ge=4, le=10)
    code_ttl_seconds: int = Field(120, ge=30, le=600)
    max_attempts_per_code: int = Field(5, ge=1, le=20)
    max_requests_per_window: int = Field(5, ge=1, le=100)
    request_window_seconds: int = Field(900, ge=60)
    failures_per_lockout: int = Field(5, ge=1)
    lockout_base_seconds: int = Field(30, ge=1)
    lockout_max_seconds: int = Field(3600, ge=1)
    hard_lockout_failures: int = Field(100, ge=1)

    # device protocol
    clock_skew_seconds: int = Field(300, ge=30, le=3600)
    max_body_bytes: int = 16 * 1024

    cors_origins: str = ""  # comma-separated; empty = CORS off
    db_timeout_ms: int = 2000

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
        if self.code_digits < 6:
            warnings.warn("CODE_DIGITS below 6 makes codes easier to guess", stacklevel=2)
        return self

    @cached_property
    def recipient_list(self) -> list[str]:
        return [r.strip() for r in self.recipients.split(",") if r.strip()]

    @cached_property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

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
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
