"""The customer facts for targeting, computed in SQL at read time: one statement that
answers, per customer, the facts asked for.

Segments, the customer list, the profile and the ingest pipeline all read the facts
through ``FactsQuery``, so that they agree. Only the facts a caller names are joined in:
a segment on the tier reads the customers' rows and nothing else, one on ``rfm_score``
ranks every purchasing customer.

- ``recency_days``: whole days from the latest purchase to ``now`` (never below 0). It is
  not a column: comparisons on it become comparisons on ``last_purchase_at`` (see
  ``app.segments.sql``), which the caller computes from the row.
- ``frequency``: purchase events in ``[now - frequency_days, now]``.
- ``monetary``: lifetime spend (net of refunds) / purchases.
- ``rfm_score``: over the customers with a purchase, each of recency (latest purchase),
  frequency and monetary scored ``1 + floor(5 * L / n)``, where ``L`` is how many of those
  customers have a smaller value (ties score alike) and ``n`` how many there are;
  concatenated as ``"RFM"``. Computed from each dimension's four breakpoints: with ``s``
  the values in ascending order and ``m_k = ceil(k n / 5)``, the score is 1 plus the number
  of ``k`` in 1..4 with ``value > s[m_k - 1]``. ``prepare`` reads the breakpoints (two
  sorted columns and a histogram of frequencies) before the facts' own statement, which
  then compares instead of ranking: ranking every customer three times cost 2 s at
  100,000 customers on SQLite.
- ``probability_alive`` / ``predicted_clv``: the customer's predictions from the most
  recently stored fit.
- ``last_nps`` / ``last_csat``: the score of the customer's latest answer (by
  ``occurred_at``, then event id) to that survey.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Subquery

from app.database import dialect_of
from app.models import CltvFit, CltvPrediction, Customer, Event

# The facts that need more than the customer's own row.
JOINED_FACTS: Final = frozenset(
    {"frequency", "rfm_score", "probability_alive", "predicted_clv", "last_nps", "last_csat"}
)
# Facts read straight from (or computed on) the customer's row.
ROW_FACTS: Final = frozenset(
    {
        "tier",
        "purchase_count",
        "lifetime_spend",
        "referral_count",
        "monetary",
        "last_purchase_at",
        "first_seen_at",
    }
)
ALL_FACTS: Final = JOINED_FACTS | ROW_FACTS
DEFAULT_FREQUENCY_DAYS: Final = 365


def recency(last_purchase_at: datetime | None, now: datetime) -> int | None:
    """``recency_days`` as the SQL comparisons define it."""
    if last_purchase_at is None:
        return None
    return max((now - last_purchase_at).days, 0)


def _average() -> ColumnElement[Any]:
    # In floating point on both databases: SQLite would divide its integers exactly as
    # integers, and the numbers must not depend on the database.
    return cast(Customer.lifetime_spend, Float) / Customer.purchase_count


def breakpoints(ordered: Sequence[Any]) -> tuple[Any, ...]:
    """The four values ``s[m_k - 1]``, ``m_k = ceil(k n / 5)``, of ascending ``ordered``."""
    n = len(ordered)
    return tuple(ordered[(k * n + 4) // 5 - 1] for k in range(1, 5))


def _score(value: Any, bounds: tuple[Any, ...]) -> Any:
    return 1 + sum((case((value > bound, 1), else_=0) for bound in bounds), start=literal(0))


@dataclass(frozen=True)
class Breakpoints:
    """Each RFM dimension's four breakpoints; ``None`` when no customer purchased."""

    recency: tuple[datetime, ...]
    frequency: tuple[int, ...]
    monetary: tuple[float, ...]


@dataclass(frozen=True)
class FactsQuery:
    """The facts as of ``now``, for every customer or for ``ids`` only (the population of
    ``rfm_score`` is every purchasing customer either way, through ``rfm``)."""

    now: datetime
    frequency_days: int = DEFAULT_FREQUENCY_DAYS
    rfm: Breakpoints | None = None
    dialect: str = ""

    async def prepare(
        self, executor: AsyncConnection | AsyncSession, needed: Collection[str]
    ) -> "FactsQuery":
        """This query for ``executor``'s database, with the RFM breakpoints read when
        ``needed`` has ``rfm_score``."""
        query = replace(self, dialect=dialect_of(executor))
        if "rfm_score" not in needed:
            return query
        buyers = (Customer.purchase_count > 0, Customer.erased_at.is_(None))
        n = int(await executor.scalar(select(func.count()).where(*buyers)) or 0)
        if n == 0:
            return replace(query, rfm=None)
        positions = [(k * n + 4) // 5 for k in range(1, 5)]

        async def ordered(value: Any) -> tuple[Any, ...]:
            # One sort, four rows back: the values at those positions of the order.
            ranked = (
                select(value.label("v"), func.row_number().over(order_by=value).label("rn"))
                .where(*buyers)
                .subquery()
            )
            rows = await executor.execute(
                select(ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(positions))
            )
            found: dict[int, Any] = {}
            for rn, v in rows:
                found[rn] = v
            return tuple(found[p] for p in positions)

        recency = await ordered(Customer.last_purchase_at)
        monetary = await ordered(_average())
        counted = query._frequency(None)
        frequency = func.coalesce(counted.c.n, 0)
        histogram = await executor.execute(
            select(frequency, func.count())
            .select_from(Customer)
            .outerjoin(counted, counted.c.customer_id == Customer.id)
            .where(*buyers)
            .group_by(frequency)
            .order_by(frequency)
        )
        frequencies = [int(n) for n, times in histogram for _ in range(times)]
        return replace(
            query,
            rfm=Breakpoints(recency, breakpoints(frequencies), monetary),
        )

    def _frequency(self, ids: Sequence[str] | None) -> Subquery:
        since = self.now - timedelta(days=self.frequency_days)
        occurred: Any = Event.occurred_at
        if self.dialect == "sqlite":
            # Unary plus keeps SQLite's planner off the (type, occurred_at) index: it would
            # range-scan that and sort the window's purchases to group them, where the
            # (type, customer_id) index streams the groups, in half the time at 400,000.
            occurred = literal_column(f"+{Event.__tablename__}.occurred_at", Event.occurred_at.type)
        statement = select(Event.customer_id, func.count().label("n")).where(
            Event.type == "purchase", occurred >= since, occurred <= self.now
        )
        if ids is not None:
            statement = statement.where(Event.customer_id.in_(ids))
        return statement.group_by(Event.customer_id).subquery("frequency")

    def _rfm_score(self, frequency: Any) -> Any:
        if self.rfm is None:
            return null()
        r = _score(Customer.last_purchase_at, self.rfm.recency)
        f = _score(frequency, self.rfm.frequency)
        m = _score(_average(), self.rfm.monetary)
        text = cast(r, String) + cast(f, String) + cast(m, String)
        return case((Customer.purchase_count > 0, text), else_=null())

    def _survey(self, survey: str, ids: Sequence[str] | None) -> Subquery:
        order = (Event.occurred_at.desc(), Event.id.desc())
        statement = select(
            Event.customer_id,
            Event.score,
            func.row_number().over(partition_by=Event.customer_id, order_by=order).label("rn"),
        ).where(Event.survey == survey)
        if ids is not None:
            statement = statement.where(Event.customer_id.in_(ids))
        ranked = statement.subquery(f"{survey}_answers")
        return (
            select(ranked.c.customer_id, ranked.c.score)
            .where(ranked.c.rn == 1)
            .subquery(f"last_{survey}")
        )

    def select(self, needed: Collection[str], ids: Sequence[str] | None = None) -> Select[Any]:
        """``id``, ``created_at`` and a column per fact of ``needed`` (names from
        ``ALL_FACTS``), one row per customer that is not an erasure's pseudonym."""
        columns: list[Any] = [Customer.id.label("id"), Customer.created_at.label("created_at")]
        joins: list[tuple[Any, Any]] = []
        for name in ("tier", "purchase_count", "lifetime_spend", "referral_count"):
            if name in needed:
                columns.append(getattr(Customer, name).label(name))
        if "last_purchase_at" in needed:
            columns.append(Customer.last_purchase_at.label("last_purchase_at"))
        if "first_seen_at" in needed:
            columns.append(Customer.first_seen_at.label("first_seen_at"))
        if "monetary" in needed:
            columns.append(
                case((Customer.purchase_count > 0, _average()), else_=null()).label("monetary")
            )
        if "frequency" in needed or "rfm_score" in needed:
            counted = self._frequency(ids)
            joins.append((counted, counted.c.customer_id == Customer.id))
            frequency = func.coalesce(counted.c.n, 0)
            columns.append(frequency.label("frequency"))
            if "rfm_score" in needed:
                columns.append(self._rfm_score(frequency).label("rfm_score"))
        if "probability_alive" in needed or "predicted_clv" in needed:
            latest = (
                select(CltvFit.id)
                .order_by(CltvFit.fitted_at.desc(), CltvFit.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            predictions = (
                select(
                    CltvPrediction.customer_id, CltvPrediction.p_alive, CltvPrediction.predicted_clv
                )
                .where(CltvPrediction.fit_id == latest)
                .subquery("predictions")
            )
            joins.append((predictions, predictions.c.customer_id == Customer.id))
            columns.append(predictions.c.p_alive.label("probability_alive"))
            columns.append(predictions.c.predicted_clv.label("predicted_clv"))
        for survey in ("nps", "csat"):
            if f"last_{survey}" in needed:
                answers = self._survey(survey, ids)
                joins.append((answers, answers.c.customer_id == Customer.id))
                columns.append(answers.c.score.label(f"last_{survey}"))
        statement = select(*columns)
        for target, on in joins:
            statement = statement.outerjoin(target, on)
        statement = statement.where(Customer.erased_at.is_(None))
        if ids is not None:
            statement = statement.where(Customer.id.in_(ids))
        return statement


async def read(
    executor: AsyncConnection | AsyncSession,
    query: FactsQuery,
    needed: Collection[str],
    ids: Sequence[str],
) -> dict[str, RowMapping]:
    """The facts ``needed`` of the customers ``ids`` (those that exist), by id."""
    if not ids:
        return {}
    rows = await executor.execute(query.select(needed, list(ids)))
    return {row.id: row._mapping for row in rows}
