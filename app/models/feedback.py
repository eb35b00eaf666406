"""Follow-ups of survey answers: a manager marks an answer (a detractor, say) as handled."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.customer import ID_LENGTH


class FeedbackFollowUp(Base):
    """One row per followed-up answer, keyed by its event: the events table stays as the
    pipeline writes it, and clearing the flag deletes the row."""

    __tablename__ = "feedback_follow_ups"

    event_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("events.id"), primary_key=True
    )
    followed_up_at: Mapped[datetime]
