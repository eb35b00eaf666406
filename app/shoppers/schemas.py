from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int | None = Field(
        default=None,
        ge=60,
        le=3600,
        description="Lifetime wanted; capped by `REINFORCE_TOKEN_TTL_SECONDS` (at most 1 hour).",
    )


class ShopperToken(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>` to /v1/me.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    customer_id: str
    expires_at: datetime
    expires_in: int = Field(description="Seconds until it expires.")


class JsonWebKeySet(BaseModel):
    """RFC 7517 key set: the public keys that verify shopper tokens (empty for HS256)."""

    keys: list[dict[str, Any]]
