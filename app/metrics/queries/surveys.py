"""NPS and CSAT: index range reads of the survey answers in the window."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import Window
from app.metrics.queries.common import (
    By,
    CustomerFilter,
    Key,
    as_int,
    count_if,
    grouped,
    key_of,
    restrict,
    within,
)
from app.metrics.results import CsatResult, NpsResult
from app.models import Event


async def nps(
    session: AsyncSession, window: Window, by: By | None, customers: CustomerFilter | None
) -> dict[Key, NpsResult]:
    ranked = (
        select(
            Event.customer_id,
            Event.score,
            Event.channel,
            func.row_number()
            .over(
                partition_by=Event.customer_id,
                order_by=(Event.occurred_at.desc(), Event.id.desc()),
            )
            .label("rank"),
        )
        .where(
            Event.survey == "nps",
            Event.type == "feedback",
            within(Event.occurred_at, window),
            *restrict(customers, Event.customer_id),
        )
        .subquery()
    )
    statement = select(
        func.count().label("responses"),
        count_if(ranked.c.score >= 9).label("promoters"),
        count_if(ranked.c.score <= 6).label("detractors"),
    ).where(ranked.c.rank == 1)
    statement = grouped(statement, by, ranked.c.customer_id, ranked.c.channel)
    rows = (await session.execute(statement)).all()
    results = {
        key_of(r): NpsResult.of(as_int(r.responses), as_int(r.promoters), as_int(r.detractors))
        for r in rows
        if r.responses
    }
    return results or ({} if by else {None: NpsResult.of(0, 0, 0)})


async def csat(
    session: AsyncSession, window: Window, by: By | None, customers: CustomerFilter | None
) -> dict[Key, CsatResult]:
    statement = select(
        func.count().label("responses"),
        count_if(Event.score >= 4).label("satisfied"),
        func.avg(Event.score).label("mean"),
    ).where(
        Event.survey == "csat",
        Event.type == "feedback",
        within(Event.occurred_at, window),
        *restrict(customers, Event.customer_id),
    )
    statement = grouped(statement, by, Event.customer_id, Event.channel)
    rows = (await session.execute(statement)).all()
    results = {
        key_of(r): CsatResult.of(
            as_int(r.responses), as_int(r.satisfied), None if r.mean is None else float(r.mean)
        )
        for r in rows
        if r.responses
    }
    return results or ({} if by else {None: CsatResult.of(0, 0, None)})
