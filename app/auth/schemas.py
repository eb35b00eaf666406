import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.scopes import Scope


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["checkout-backend"])
    scopes: list[Scope] = Field(min_length=1, examples=[["events:write", "customers:read"]])


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it by.")
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret. It is shown only in this response; store it now.")
