"""Reading standings from the live score rows: a page of a period, a customer's place.

Every read walks the standing index (``ix_leaderboard_scores_standing``: board, period,
hidden, score descending, reached_at, customer id) from a known position: the top of a
period is its first rows, a customer's neighbours are the rows next to theirs either way,
and a rank is one count over the index's prefix. Ties are split into their own range
(``score = s`` and then ``(reached_at, customer_id)`` after or before), so that each
statement is a plain range scan on both databases rather than an ``OR`` across columns.

Ranks are standard competition ranks: a rank is one more than the number of listed
entries with a higher score.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidCursor, Unprocessable
from app.gamification.periods import (
    PERIOD_FORMATS,
    PeriodKind,
    bounds,
    parse_key,
    period_key,
    rolling_keys,
)
from app.models import Customer, Leaderboard, LeaderboardScore
from app.models.base import table_of

_SCORES = table_of(LeaderboardScore)
_CURSOR_VERSION = "s1"


class InvalidPeriod(Unprocessable):
    slug = "invalid-period"
    title = "Not a period of this leaderboard"


@dataclass(frozen=True, slots=True)
class Row:
    customer_id: str
    score: Decimal
    reached_at: datetime


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    row: Row


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    starts_at: datetime
    ends_at: datetime


def resolve_period(board: Leaderboard, text: str, now: datetime) -> Period:
    """The period ``text`` names on ``board``: ``current`` (the one ``now`` is in) or a key."""
    kind = PeriodKind(board.period)
    key = period_key(kind, now) if text == "current" else text
    if parse_key(kind, key) is None:
        raise InvalidPeriod(
            f"{text!r} is not a period of leaderboard {board.id!r}: use 'current' or "
            f"{PERIOD_FORMATS[kind]}.",
            extra={"leaderboard_id": board.id, "period": text},
        )
    starts_at, ends_at = bounds(kind, key, board.rolling_days)
    return Period(key, starts_at, ends_at)


class Source:
    """The listed score rows of one board and period, as (customer_id, score, reached_at).

    A calendar period is the table's rows for its key; a rolling window sums its days'
    rows per customer (a grouped subquery: slower, and the cost grows with the window).
    """

    def __init__(self, board: Leaderboard, period: Period) -> None:
        listed = [_SCORES.c.leaderboard_id == board.id, _SCORES.c.hidden == false()]
        if PeriodKind(board.period) is PeriodKind.rolling_days:
            assert board.rolling_days is not None
            keys = rolling_keys(period.key, board.rolling_days)
            grouped = (
                select(
                    _SCORES.c.customer_id,
                    func.sum(_SCORES.c.score).label("score"),
                    func.max(_SCORES.c.reached_at).label("reached_at"),
                )
                .where(*listed, _SCORES.c.period_key.in_(keys))
                .group_by(_SCORES.c.customer_id)
                .subquery()
            )
            self.table: Any = grouped
            self.where: list[Any] = []
        else:
            self.table = _SCORES
            self.where = [*listed[:1], _SCORES.c.period_key == period.key, listed[1]]
        self.c = self.table.c

    def _select(self, *where: Any) -> Any:
        c = self.c
        return select(c.customer_id, c.score, c.reached_at).where(*self.where, *where)

    def _forward(self) -> tuple[Any, ...]:
        return (self.c.score.desc(), self.c.reached_at, self.c.customer_id)

    async def _rows(self, session: AsyncSession, statement: Any) -> list[Row]:
        return [Row(r[0], Decimal(r[1]), r[2]) for r in await session.execute(statement)]

    async def top(self, session: AsyncSession, limit: int) -> list[Row]:
        return await self._rows(session, self._select().order_by(*self._forward()).limit(limit))

    async def find(self, session: AsyncSession, customer_id: str) -> Row | None:
        rows = await self._rows(session, self._select(self.c.customer_id == customer_id))
        return rows[0] if rows else None

    def _later_tie(self, row: Row) -> Any:
        c = self.c
        return or_(
            c.reached_at > row.reached_at,
            and_(c.reached_at == row.reached_at, c.customer_id > row.customer_id),
        )

    def _earlier_tie(self, row: Row) -> Any:
        c = self.c
        return or_(
            c.reached_at < row.reached_at,
            and_(c.reached_at == row.reached_at, c.customer_id < row.customer_id),
        )

    async def after(self, session: AsyncSession, row: Row, limit: int) -> list[Row]:
        """Up to ``limit`` rows listed after ``row``, in order."""
        c = self.c
        found = await self._rows(
            session,
            self._select(c.score == row.score, self._later_tie(row))
            .order_by(c.reached_at, c.customer_id)
            .limit(limit),
        )
        if len(found) < limit:
            found += await self._rows(
                session,
                self._select(c.score < row.score)
                .order_by(*self._forward())
                .limit(limit - len(found)),
            )
        return found

    async def before(self, session: AsyncSession, row: Row, limit: int) -> list[Row]:
        """Up to ``limit`` rows listed just before ``row``, in order."""
        c = self.c
        found = await self._rows(
            session,
            self._select(c.score == row.score, self._earlier_tie(row))
            .order_by(c.reached_at.desc(), c.customer_id.desc())
            .limit(limit),
        )
        if len(found) < limit:
            found += await self._rows(
                session,
                self._select(c.score > row.score)
                .order_by(c.score, c.reached_at.desc(), c.customer_id.desc())
                .limit(limit - len(found)),
            )
        return found[::-1]

    async def _count(self, session: AsyncSession, *where: Any) -> int:
        statement = select(func.count()).select_from(self.table).where(*self.where, *where)
        return int((await session.execute(statement)).scalar_one())

    async def ranked(self, session: AsyncSession, rows: list[Row], *, first: bool) -> list[Ranked]:
        """Ranks for ``rows``, consecutive in the standings; ``first``: they start at the top."""
        if not rows:
            return []
        higher = earlier_ties = 0
        if not first:
            # Two plain counts: an index-only count of a range is the cheapest read there
            # is on both databases; the ties' range is usually short.
            lead, c = rows[0], self.c
            higher = await self._count(session, c.score > lead.score)
            earlier_ties = await self._count(
                session, c.score == lead.score, self._earlier_tie(lead)
            )
        position = higher + earlier_ties
        out: list[Ranked] = []
        for index, row in enumerate(rows):
            if index == 0:
                rank = higher + 1
            elif row.score == rows[index - 1].score:
                rank = out[-1].rank
            else:
                # Everything listed before a row with a new score has a higher one.
                rank = position + index + 1
            out.append(Ranked(rank, row))
        return out


async def display_names(session: AsyncSession, ids: list[str]) -> dict[str, str | None]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.display_name).where(Customer.id.in_(ids))
    )
    return {row.id: row.display_name for row in rows}


def encode_cursor(row: Row) -> str:
    raw = json.dumps(
        [_CURSOR_VERSION, str(row.score), row.reached_at.isoformat(), row.customer_id],
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Row:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, score, at, customer_id = json.loads(raw)
        row = Row(customer_id, Decimal(score), datetime.fromisoformat(at))
    except (ValueError, TypeError, UnicodeDecodeError, InvalidOperation):
        raise InvalidCursor("The cursor is not one this API issued.") from None
    if (
        version != _CURSOR_VERSION
        or not isinstance(customer_id, str)
        or row.reached_at.tzinfo is None
        or not row.score.is_finite()
    ):
        raise InvalidCursor("The cursor is not one this API issued.")
    return row


async def page(
    session: AsyncSession, source: Source, cursor: str | None, limit: int
) -> tuple[list[Ranked], str | None]:
    """One page of the standings, after ``cursor``; answers the next page's cursor."""
    if cursor is None:
        rows = await source.top(session, limit + 1)
    else:
        rows = await source.after(session, decode_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    ranked = await source.ranked(session, rows, first=cursor is None)
    return ranked, encode_cursor(rows[-1]) if more else None


@dataclass(frozen=True, slots=True)
class Place:
    entry: Ranked | None
    above: list[Ranked]
    below: list[Ranked]


async def place(session: AsyncSession, source: Source, customer_id: str, neighbours: int) -> Place:
    """The customer's rank and the ``neighbours`` entries either side of it."""
    row = await source.find(session, customer_id)
    if row is None:
        return Place(None, [], [])
    above = await source.before(session, row, neighbours) if neighbours else []
    below = await source.after(session, row, neighbours) if neighbours else []
    run = await source.ranked(session, [*above, row, *below], first=False)
    return Place(run[len(above)], run[: len(above)], run[len(above) + 1 :])
