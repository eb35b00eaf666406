"""Wire shapes of the survey answers a manager reads and follows up."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

MAX_FEEDBACK_PAGE = 100


class FeedbackAnswer(BaseModel):
    event_id: str = Field(description="The feedback event's id.")
    customer_id: str
    survey: Literal["nps", "csat"]
    score: int = Field(description="NPS 0-10, CSAT 1-5.")
    comment: str | None = Field(description="The customer's comment, if any.")
    channel: str | None
    occurred_at: datetime
    followed_up_at: datetime | None = Field(
        description="When the answer was marked as followed up; null: not followed up."
    )


class DetractorsOut(BaseModel):
    items: list[FeedbackAnswer] = Field(
        description="The latest NPS detractor answers (scores 0-6), newest first."
    )
