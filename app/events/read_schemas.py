"""What the event reads answer: the stored event, and with one event its stored answer."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.events.schemas import EventResult
from app.events.types import EventType


class StoredEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: EventType
    customer_id: str
    occurred_at: datetime
    received_at: datetime = Field(description="When the service recorded it.")
    channel: str | None
    attributes: dict[str, Any]
    data: dict[str, Any]
    ruleset_version: int | None = Field(description="The ruleset version that judged it.")


class StoredEventDetail(StoredEvent):
    answer: EventResult = Field(
        description="The response `POST /v1/events` gave, as a replay of the event returns it."
    )
