"""Windows, calendar periods and the one dialect-aware piece of SQL: period bucketing.

A window is half-open, ``[start, end)``, in UTC. A date given as ``to`` includes that
whole day. Periods are UTC calendar days, ISO weeks (starting Monday) or months.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.sql.elements import ColumnElement

from app.errors import Unprocessable

DEFAULT_WINDOW = timedelta(days=90)
MAX_PERIODS = 400


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class InvalidWindow(Unprocessable):
    slug = "invalid-window"
    title = "The metric window is empty or inverted"


class TooManyPeriods(Unprocessable):
    slug = "too-many-periods"
    title = "The series would have too many periods"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def _instant(value: datetime | date, *, is_end: bool) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    midnight = datetime.combine(value, time(), tzinfo=UTC)
    return midnight + timedelta(days=1) if is_end else midnight


def resolve(start: datetime | date | None, end: datetime | date | None, now: datetime) -> Window:
    """The window ``[from, to)``; by default the 90 days before now."""
    to = _instant(end, is_end=True) if end is not None else now
    frm = _instant(start, is_end=False) if start is not None else to - DEFAULT_WINDOW
    if frm >= to:
        raise InvalidWindow(
            f"`from` ({frm.isoformat()}) must be before `to` ({to.isoformat()}).",
            extra={"from": frm.isoformat(), "to": to.isoformat()},
        )
    return Window(frm, to)


def period_floor(moment: datetime, period: Period) -> datetime:
    day = datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    if period is Period.month:
        return day.replace(day=1)
    return day


def period_next(moment: datetime, period: Period) -> datetime:
    if period is Period.day:
        return moment + timedelta(days=1)
    if period is Period.week:
        return moment + timedelta(days=7)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month)


def periods_between(first: date, later: date, period: Period) -> int:
    """How many periods ``later``'s period starts after ``first``'s (both period starts)."""
    if period is Period.month:
        return (later.year - first.year) * 12 + later.month - first.month
    if period is Period.week:
        return (later - first).days // 7
    return (later - first).days


def split(window: Window, period: Period) -> list[Window]:
    """The window cut at period boundaries; the first and last pieces may be partial."""
    pieces: list[Window] = []
    cursor = window.start
    while cursor < window.end:
        boundary = period_next(period_floor(cursor, period), period)
        pieces.append(Window(cursor, min(boundary, window.end)))
        cursor = boundary
        if len(pieces) > MAX_PERIODS:
            raise TooManyPeriods(
                f"A series has at most {MAX_PERIODS} periods; use a longer interval "
                "or a shorter window.",
                extra={"max_periods": MAX_PERIODS},
            )
    return pieces


def period_bucket(column: Any, period: Period, dialect: str) -> ColumnElement[Any]:
    """SQL for the period holding a timestamp column, cheap to group by.

    On PostgreSQL the truncated timestamp (``period_label`` formats it): formatting every
    row before grouping cost more than the grouping. On SQLite, the label itself.
    """
    if dialect == "postgresql":
        return func.date_trunc(period.value, func.timezone("UTC", column))
    # SQLite keeps UTCDateTime values as naive UTC text in SQLAlchemy's fixed format,
    # 'YYYY-MM-DD HH:MM:SS.ffffff': a day or a month is a prefix of it, which is several
    # times cheaper per row than parsing it with the date functions (weeks need them).
    if period is Period.month:
        return func.substr(column, 1, 7).concat("-01")
    if period is Period.week:
        days_since_monday = (cast(func.strftime("%w", column), Integer) + 6) % 7
        return func.date(column, func.printf("-%d days", days_since_monday))
    return func.substr(column, 1, 10)


def period_label(bucket: Any, dialect: str) -> ColumnElement[str]:
    """The ``YYYY-MM-DD`` start of a ``period_bucket``."""
    if dialect == "postgresql":
        return func.to_char(bucket, "YYYY-MM-DD")
    return bucket  # type: ignore[no-any-return]


def period_start(column: Any, period: Period, dialect: str) -> ColumnElement[str]:
    """SQL for the start (``YYYY-MM-DD``, UTC) of the period holding a timestamp column."""
    return period_label(period_bucket(column, period, dialect), dialect)


def day_bounds(column: Any, dialect: str) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """SQL for the first instant of the UTC day holding a timestamp column, and of the next
    day, comparable with that column."""
    if dialect == "postgresql":
        start = func.timezone("UTC", func.date_trunc("day", func.timezone("UTC", column)))
        return start, start + timedelta(days=1)
    # Text comparison: '2025-01-02 10:00:00.000000' >= '2025-01-02' < '2025-01-03'.
    return func.date(column), func.date(column, "+1 day")
