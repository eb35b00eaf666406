"""Settings, read from the environment with the ``REINFORCE_`` prefix."""

import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Known only so that production can refuse it: a token signed with a published secret
# is a token anyone can forge.
DEVELOPMENT_TOKEN_SECRET = "reinforce-development-secret-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REINFORCE_", env_file=".env", extra="ignore", frozen=True
    )

    environment: Environment = Environment.development
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/reinforce.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    bootstrap_api_key: SecretStr | None = Field(
        default=None, description="When set, ensured at start-up as an admin API key."
    )
    token_secret: SecretStr = SecretStr(DEVELOPMENT_TOKEN_SECRET)
    points_pending_days: int = Field(
        default=0,
        ge=0,
        le=365,
        description="Days points earned by a purchase stay pending (the return window).",
    )
    points_validity_days: int = Field(
        default=365, ge=0, description="Days earned points stay valid; 0 means they never expire."
    )
    refund_allow_negative_balance: bool = Field(
        default=False,
        description="When a refund claws back points already spent: go negative (true) "
        "or take what is left and record the shortfall (false).",
    )
    expiry_interval_seconds: int = Field(
        default=0, ge=0, description="Run point expiry in-process this often; 0 turns it off."
    )
    webhook_retry_schedule_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Delays before each retry after the first, immediate attempt "
        "(comma-separated seconds); a message fails after the last one.",
    )
    webhook_timeout_seconds: float = Field(default=15, gt=0, le=120)
    webhook_secret_rotation_grace_seconds: int = Field(
        default=86_400, ge=0, description="How long the old secret keeps signing after a rotation."
    )
    webhook_max_payload_bytes: int = Field(default=64 * 1024, ge=1024)
    webhook_max_response_bytes: int = Field(default=4 * 1024, ge=0)
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs that webhook URLs may resolve to even though "
        "they are not public (e.g. 127.0.0.0/8 for local testing).",
    )
    webhook_worker_in_process: bool = Field(
        default=False, description="Run webhook delivery inside `reinforce serve`."
    )
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_batch_size: int = Field(default=50, ge=1, le=1000)
    webhook_lease_seconds: int = Field(default=120, ge=10)
    webhook_retention_days: int = Field(
        default=30, ge=1, description="Delivered and failed messages are deleted after this."
    )
    log_level: str = "INFO"
    log_json: bool = True
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # A comma-separated list is what people type into an environment variable.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("webhook_retry_schedule_seconds", "webhook_allowed_networks", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule_seconds")
    @classmethod
    def _non_negative_delays(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("delays must not be negative")
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("bootstrap_api_key")
    @classmethod
    def _bootstrap_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if not secret.startswith("rk_") or len(secret) < 24:
            raise ValueError("must start with 'rk_' and be at least 24 characters long")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> "Settings":
        # A lease shorter than a send would let a second worker send the message again.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds * 2:
            raise ValueError(
                "REINFORCE_WEBHOOK_LEASE_SECONDS must exceed twice "
                "REINFORCE_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.environment is not Environment.production:
            return self
        problems = []
        secret = self.token_secret.get_secret_value()
        if not secret or secret == DEVELOPMENT_TOKEN_SECRET:
            problems.append("REINFORCE_TOKEN_SECRET must be set to a private value")
        elif len(secret) < 32:
            problems.append("REINFORCE_TOKEN_SECRET must be at least 32 characters")
        if "*" in self.cors_origins:
            problems.append("REINFORCE_CORS_ORIGINS must list origins, not '*'")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
