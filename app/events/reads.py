"""Reading stored events back: one by id, or a filtered list newest first."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, Unprocessable
from app.keyset import before
from app.models import Event


class InvalidWindow(Unprocessable):
    slug = "invalid-window"


def instant(value: date | datetime, *, end: bool) -> datetime:
    """A datetime as it is; a date as the start of its UTC day, or as ``end`` of the window
    the start of the next one, so that a date as `to` includes that whole day (as the
    metrics read their windows)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    start = datetime.combine(value, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@dataclass(frozen=True)
class EventFilter:
    customer_id: str | None = None
    type: str | None = None
    from_: datetime | None = None
    to: datetime | None = None

    def __post_init__(self) -> None:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise InvalidWindow("`from` must be before `to`.")

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.customer_id is not None:
            clauses.append(Event.customer_id == self.customer_id)
        if self.type is not None:
            clauses.append(Event.type == self.type)
        if self.from_ is not None:
            clauses.append(Event.occurred_at >= self.from_)
        if self.to is not None:
            clauses.append(Event.occurred_at < self.to)
        return clauses


async def page(
    session: AsyncSession,
    where: EventFilter,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Event]:
    """By ``occurred_at`` newest first (ties by id), ``limit`` at most."""
    statement = select(Event).where(*where.clauses())
    if after is not None:
        statement = statement.where(before(Event.occurred_at, Event.id, after))
    statement = statement.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    return list(await session.scalars(statement))


async def get(session: AsyncSession, event_id: str) -> Event:
    event = await session.get(Event, event_id)
    if event is None:
        raise NotFound(f"Event {event_id!r} does not exist.")
    return event
