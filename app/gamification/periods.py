"""Leaderboard periods: the key an instant falls in, and the instants a key covers.

Periods are UTC calendar periods: ISO weeks (``2026-W48``), months (``2026-11``), years
(``2026``), or ``all_time``. A rolling board keeps one row per UTC day (``2026-11-30``) and
sums the last N of them when it is read. An event counts in the period of its own
``occurred_at``, so a back-dated event lands in the period it happened in.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

ALL_TIME_KEY = "all_time"


class PeriodKind(StrEnum):
    week = "week"
    month = "month"
    year = "year"
    all_time = "all_time"
    rolling_days = "rolling_days"


_PATTERNS = {
    PeriodKind.week: re.compile(r"^(\d{4})-W(\d{2})$"),
    PeriodKind.month: re.compile(r"^(\d{4})-(\d{2})$"),
    PeriodKind.year: re.compile(r"^(\d{4})$"),
    PeriodKind.rolling_days: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
}
PERIOD_FORMATS = {
    PeriodKind.week: "YYYY-Www (an ISO week, e.g. 2026-W48)",
    PeriodKind.month: "YYYY-MM (e.g. 2026-11)",
    PeriodKind.year: "YYYY (e.g. 2026)",
    PeriodKind.all_time: "all_time",
    PeriodKind.rolling_days: "YYYY-MM-DD (the window's last day)",
}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def period_key(kind: PeriodKind, at: datetime) -> str:
    """The key of the period (for a rolling board, of the UTC day) ``at`` falls in."""
    day = at.astimezone(UTC).date()
    if kind is PeriodKind.week:
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if kind is PeriodKind.month:
        return f"{day.year:04d}-{day.month:02d}"
    if kind is PeriodKind.year:
        return f"{day.year:04d}"
    if kind is PeriodKind.all_time:
        return ALL_TIME_KEY
    return day.isoformat()


def parse_key(kind: PeriodKind, text: str) -> date | None:
    """The first day of the period ``text`` names, if it is a well-formed key of ``kind``
    (the first day of the rolling window's last day for a rolling board); None otherwise."""
    if kind is PeriodKind.all_time:
        return date.min if text == ALL_TIME_KEY else None
    match = _PATTERNS[kind].match(text)
    if match is None:
        return None
    numbers = [int(g) for g in match.groups()]
    try:
        if kind is PeriodKind.week:
            return date.fromisocalendar(numbers[0], numbers[1], 1)
        if kind is PeriodKind.month:
            return date(numbers[0], numbers[1], 1)
        if kind is PeriodKind.year:
            return date(numbers[0], 1, 1)
        return date(numbers[0], numbers[1], numbers[2])
    except ValueError:
        return None


def bounds(
    kind: PeriodKind, key: str, rolling_days: int | None = None
) -> tuple[datetime, datetime]:
    """``[start, end)`` of the period ``key`` (a well-formed key of ``kind``). For a rolling
    board, the ``rolling_days`` days ending with the day ``key``."""
    if kind is PeriodKind.all_time:
        return datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
    first = parse_key(kind, key)
    assert first is not None, key
    if kind is PeriodKind.week:
        return _midnight(first), _midnight(first + timedelta(days=7))
    if kind is PeriodKind.month:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return _midnight(first), _midnight(following)
    if kind is PeriodKind.year:
        return _midnight(first), _midnight(date(first.year + 1, 1, 1))
    assert rolling_days is not None
    end = first + timedelta(days=1)
    return _midnight(end - timedelta(days=rolling_days)), _midnight(end)


def rolling_keys(last_day: str, days: int) -> list[str]:
    """The day keys of a rolling window of ``days`` days ending with ``last_day``."""
    end = date.fromisoformat(last_day)
    return [(end - timedelta(days=n)).isoformat() for n in range(days)]


def closes(kind: PeriodKind) -> bool:
    """Whether periods of this kind end (and can be closed and rewarded)."""
    return kind in (PeriodKind.week, PeriodKind.month, PeriodKind.year)
