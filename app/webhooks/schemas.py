import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from app.webhooks.outbox import WebhookEventType

Url = Annotated[AnyHttpUrl, Field(description="http(s) URL of a public host.")]
EventTypes = Annotated[
    list[WebhookEventType],
    Field(max_length=len(WebhookEventType), description="The types to receive; empty means all."),
]
Description = Annotated[str, StringConstraints(max_length=500)]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes = Field(default_factory=list)
    enabled: bool = True
    description: Description | None = None


class WebhookPatch(BaseModel):
    """Only the members given change. Enabling clears `disabled_reason`."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None
    description: Description | None = None


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    event_types: list[str] = Field(description="Empty means every type.")
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why delivery stopped, e.g. the endpoint answered 410 Gone."
    )
    description: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret replaced by the last rotation signs too."
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="`whsec_<base64>`: verify signatures with it. Shown only once.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: str = Field(description="The `webhook-id` header of the delivery.")
    attempt: int = Field(description="1 for the first try of a message.")
    succeeded: bool
    response_status: int | None = Field(description="Absent when no response came back.")
    latency_ms: int | None
    error: str | None
    attempted_at: datetime


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    event_type: str
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, object]
