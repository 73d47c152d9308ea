"""Settings: one object built by each entry point from the environment and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_JWT_SECRET = "change-me-in-production"


class Settings(BaseSettings):
    """Every variable operators set. The docs' configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field("sqlite:///ordinaut.db", alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    default_timezone: str = Field("UTC", validation_alias=AliasChoices("TZ", "ORDINAUT_TZ"))
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    log_format: Literal["auto", "json", "console"] = Field("auto", alias="LOG_FORMAT")
    environment: Literal["development", "test", "staging", "production"] = Field(
        "development", alias="ENVIRONMENT"
    )
    host: str = Field("127.0.0.1", alias="UVICORN_HOST")
    port: int = Field(8080, alias="UVICORN_PORT", ge=0, le=65535)

    worker_lease_seconds: float = Field(60.0, alias="WORKER_LEASE_SECONDS", gt=0)
    worker_poll_interval: float = Field(0.5, alias="WORKER_POLL_INTERVAL", gt=0)
    worker_concurrency: int = Field(8, alias="WORKER_CONCURRENCY", ge=1, le=1024)
    worker_max_retries: int = Field(3, alias="WORKER_MAX_RETRIES", ge=0, le=10)
    worker_backoff_max_delay: float = Field(300.0, alias="WORKER_BACKOFF_MAX_DELAY", gt=0)
    worker_batch_size: int = Field(32, alias="WORKER_BATCH_SIZE", ge=1, le=1000)
    worker_shutdown_timeout: float = Field(30.0, alias="WORKER_SHUTDOWN_TIMEOUT", ge=0)
    scheduler_misfire_grace_time: int = Field(30, alias="SCHEDULER_MISFIRE_GRACE_TIME", ge=0)
    scheduler_batch_size: int = Field(500, alias="SCHEDULER_BATCH_SIZE", ge=1)
    scheduler_max_sleep: float = Field(5.0, alias="SCHEDULER_MAX_SLEEP", gt=0)
    scheduler_lookahead: float = Field(2.0, alias="SCHEDULER_LOOKAHEAD", ge=0)

    jwt_secret_key: str = Field(DEFAULT_JWT_SECRET, alias="JWT_SECRET_KEY")
    jwt_algorithm: str = Field("HS256", alias="JWT_ALGORITHM")
    jwt_access_ttl_seconds: int = Field(3600, alias="JWT_ACCESS_TTL_SECONDS", gt=0)
    jwt_refresh_ttl_seconds: int = Field(7 * 86400, alias="JWT_REFRESH_TTL_SECONDS", gt=0)
    admin_secret: str | None = Field(None, alias="ORDINAUT_ADMIN_SECRET")

    rate_limit_per_second: float = Field(50.0, alias="RATE_LIMIT_PER_SECOND", ge=0)
    rate_limit_burst: int = Field(100, alias="RATE_LIMIT_BURST", ge=1)
    max_body_bytes: int = Field(1_048_576, alias="MAX_BODY_BYTES", ge=1024)

    tools_catalog: Path | None = Field(None, alias="TOOLS_CATALOG")
    egress_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="EGRESS_ALLOW_HOSTS"
    )
    egress_deny_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="EGRESS_DENY_HOSTS"
    )
    ext_paths: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, alias="ORDINAUT_EXT_PATHS"
    )
    extensions_enabled: Annotated[list[str] | None, NoDecode] = Field(
        None, alias="ORDINAUT_EXTENSIONS"
    )
    ext_grants: str = Field("", alias="ORDINAUT_EXT_GRANTS")
    extensions_disabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="ORDINAUT_EXTENSIONS_DISABLED"
    )

    @field_validator("default_timezone", mode="before")
    @classmethod
    def _zone(cls, value: object) -> str:
        name = str(value or "UTC").lstrip(":")
        if name.startswith("/"):  # TZ=:/etc/localtime style: not an IANA name, keep UTC
            return "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TZ={name!r} is not an IANA time zone") from exc
        return name

    @field_validator(
        "egress_allow_hosts",
        "egress_deny_hosts",
        "ext_paths",
        "extensions_enabled",
        "extensions_disabled",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(",", " ").split() if part.strip()]
        return value

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_default_jwt_secret(self) -> bool:
        return self.jwt_secret_key in ("", DEFAULT_JWT_SECRET)
