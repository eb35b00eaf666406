"""Settings, read from the environment with the ``REINFORCE_`` prefix."""

import ipaddress
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Known only so that production can refuse it: a token signed with a published secret
# is a token anyone can forge.
DEVELOPMENT_TOKEN_SECRET = "reinforce-development-secret-do-not-use-in-production"  # noqa: S105


SqliteSynchronous = Literal["FULL", "NORMAL"]


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class TokenAlgorithm(StrEnum):
    HS256 = "HS256"
    EdDSA = "EdDSA"
    RS256 = "RS256"


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
    sqlite_synchronous: SqliteSynchronous = Field(
        default="FULL",
        description="SQLite's `synchronous` pragma. FULL syncs the write-ahead log at every "
        "commit, so a 2xx survives a power cut; group commit makes that cost one sync per "
        "group. NORMAL may lose the last commits on power loss (never on a crash).",
    )
    bootstrap_api_key: SecretStr | None = Field(
        default=None, description="When set, ensured at start-up as an admin API key."
    )
    api_key_cache_seconds: float = Field(
        default=5,
        ge=0,
        le=300,
        description="How long a verified API key is trusted without a lookup; a key revoked "
        "in another process stops working here within this time. 0: look up every request.",
    )
    token_secret: SecretStr = SecretStr(DEVELOPMENT_TOKEN_SECRET)
    token_algorithm: TokenAlgorithm = Field(
        default=TokenAlgorithm.HS256,
        description="How shopper tokens are signed, and the only algorithm accepted back.",
    )
    token_private_key: SecretStr | None = Field(
        default=None, description="PEM private key for EdDSA (Ed25519) or RS256."
    )
    token_private_key_file: Path | None = Field(
        default=None, description="A file holding the PEM private key, instead of the key itself."
    )
    token_issuer: str = Field(default="reinforce", min_length=1)
    token_audience: str = Field(default="reinforce-shopper", min_length=1)
    token_ttl_seconds: int = Field(
        default=900, ge=60, le=3600, description="Lifetime of a shopper token (at most 1 hour)."
    )
    shopper_redemptions: bool = Field(
        default=False, description="Whether shoppers may spend their points themselves."
    )
    rate_limit: str = Field(
        default="100/second",
        description="Requests per API key (server to server: a shop's backend posting "
        "events), in `limits` notation; empty turns it off.",
    )
    shopper_rate_limit: str = Field(
        default="120/minute",
        description="Requests per shopper (shopper token), in `limits` notation; empty: off.",
    )
    redis_url: SecretStr | None = Field(
        default=None, description="redis://... to share rate limits across workers."
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch_body_bytes: int = Field(default=5_242_880, ge=1024)
    points_pending_days: int = Field(
        default=0,
        ge=0,
        le=365,
        description="Days points earned by a purchase stay pending (the return window).",
    )
    points_validity_days: int = Field(
        default=365,
        ge=0,
        le=36_500,
        description="Days earned points stay valid; 0 means they never expire.",
    )
    frequency_window_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="The trailing window of the customer.frequency fact (purchases in it).",
    )
    refund_allow_negative_balance: bool = Field(
        default=False,
        description="When a refund claws back points already spent: go negative (true) "
        "or take what is left and record the shortfall (false).",
    )
    referral_code_cap: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Most referrals one customer's referral code records per "
        "`REINFORCE_REFERRAL_CODE_CAP_PERIOD`; more are answered `referrer-cap-reached` "
        "and earn nothing. 0: no cap.",
    )
    referral_code_cap_period: Literal["day", "week", "month", "lifetime"] = Field(
        default="month", description="The calendar period (UTC) of the referral code cap."
    )
    point_value: Decimal = Field(
        default=Decimal("0.01"),
        ge=0,
        le=1_000_000,
        description="What one point is worth, in `REINFORCE_POINT_VALUE_CURRENCY`, for the "
        "liability metric.",
    )
    point_value_currency: str = Field(
        default="EUR", pattern=r"^[A-Z]{3}$", description="The currency of the point value."
    )
    ingest_group_max: int = Field(
        default=256,
        ge=1,
        le=1000,
        description="Most single posts one process gathers into one transaction (group commit).",
    )
    ingest_group_wait_ms: float = Field(
        default=1.0,
        ge=0,
        le=50,
        description="How long group commit waits after a post for others to join its "
        "transaction; under load a group fills while the previous one commits.",
    )
    expiry_interval_seconds: int = Field(
        default=0, ge=0, description="Run point expiry in-process this often; 0 turns it off."
    )
    leaderboard_close_interval_seconds: int = Field(
        default=0,
        ge=0,
        description="Close ended leaderboard periods (and award their rewards) in-process "
        "this often; 0 turns it off (run `reinforce leaderboards close` instead).",
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

    @field_validator("rate_limit", "shopper_rate_limit")
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit like '600/minute': {exc}") from exc
        return value

    @model_validator(mode="after")
    def _token_key_matches_algorithm(self) -> "Settings":
        if self.token_algorithm is TokenAlgorithm.HS256:
            return self
        # Checked at start-up, so that a bad key stops the service instead of every login.
        from_setting = self.token_private_key is not None
        from_file = self.token_private_key_file is not None
        if from_setting == from_file:
            raise ValueError(
                f"REINFORCE_TOKEN_ALGORITHM={self.token_algorithm} needs exactly one of "
                "REINFORCE_TOKEN_PRIVATE_KEY or REINFORCE_TOKEN_PRIVATE_KEY_FILE"
            )
        check_private_key(self.token_algorithm, self.private_key_pem())
        return self

    def private_key_pem(self) -> bytes:
        if self.token_private_key is not None:
            return self.token_private_key.get_secret_value().encode()
        if self.token_private_key_file is not None:
            try:
                return self.token_private_key_file.read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read REINFORCE_TOKEN_PRIVATE_KEY_FILE: {exc}") from exc
        raise ValueError("no private key is configured")

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
        if self.token_algorithm is not TokenAlgorithm.HS256:
            pass  # signed with the private key, checked above; the secret is unused
        elif not secret or secret == DEVELOPMENT_TOKEN_SECRET:
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


def check_private_key(algorithm: TokenAlgorithm, pem: bytes) -> None:
    """Refuse a PEM that is not a private key of the kind ``algorithm`` signs with."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the token private key is not an unencrypted PEM key: {exc}") from exc
    if algorithm is TokenAlgorithm.EdDSA and not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("REINFORCE_TOKEN_ALGORITHM=EdDSA needs an Ed25519 private key")
    if algorithm is TokenAlgorithm.RS256:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("REINFORCE_TOKEN_ALGORITHM=RS256 needs an RSA private key")
        if key.key_size < 2048:
            raise ValueError("the RSA token key must have at least 2048 bits")


@lru_cache
def get_settings() -> Settings:
    return Settings()
