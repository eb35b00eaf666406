"""Wire types of streak definitions and a customer's streaks."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.events.types import EVENT_TYPES, EventType

MAX_GRACE = 30
StreakPeriod = Literal["day", "week", "month"]


class StreakIn(BaseModel):
    """A streak: consecutive periods with at least one event of `event_types`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event_types": ["purchase"], "period": "week"}]},
    )

    event_types: list[EventType] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="The event types that keep the streak going: " + ", ".join(EVENT_TYPES),
    )
    period: StreakPeriod = Field(description="UTC days, ISO weeks (from Monday) or months.")
    grace: int = Field(
        default=0,
        ge=0,
        le=MAX_GRACE,
        description="Missed periods in a row that do not break the streak (they do not "
        "count towards it either).",
    )


class StreakOut(BaseModel):
    id: str
    event_types: list[EventType]
    period: StreakPeriod
    grace: int
    created_at: datetime
    updated_at: datetime


class StreakList(BaseModel):
    items: list[StreakOut]


class CustomerStreakOut(BaseModel):
    """A customer's streak now: `current` is 0 once more than `grace` periods were missed."""

    streak_id: str
    period: StreakPeriod
    current: int = Field(description="Periods in the streak that reaches the current period.")
    best: int = Field(description="The longest streak so far.")
