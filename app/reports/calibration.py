"""Calibration against a holdout: fit BG/NBD on the purchases before a cut, predict each
customer's repeat transactions after it, and set the prediction beside what happened,
grouped by how often customers bought before the cut (the paper's Figure 3 check)."""

import asyncio
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import Period, period_bucket
from app.metrics.predictive import InsufficientFitData, PredictiveFitFailed
from app.metrics.queries.transactions import as_tuples, customer_rows
from app.models import Event

MAX_FREQUENCY_GROUP = 7  # the last group is "7 or more"


class CalibrationGroup(BaseModel):
    frequency: str = Field(description="Repeat transactions before the cut: 0..6, or 7+.")
    customers: int
    actual: float = Field(description="Mean repeat transactions in the holdout, observed.")
    predicted: float = Field(description="Mean the calibration fit predicts for the holdout.")


class CalibrationOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    cut: datetime = Field(description="Calibration: purchases before it; holdout: after it.")
    to: datetime = Field(description="End of the holdout (exclusive).")
    holdout_weeks: int
    groups: list[CalibrationGroup]


def _fit_and_predict(
    rows: list[tuple[str, date, date, int, float]], cut_day: date, weeks: float
) -> tuple[list[str], list[float], list[float]]:
    from app.metrics import clv

    summary = clv.summarize(rows, cut_day, "week")
    fitted = clv.fit_bgnbd(summary)
    expected = clv.expected_transactions(fitted.params, summary, weeks)
    return list(summary.customer_ids), list(summary.frequency), [float(e) for e in expected]


async def calibration(session: AsyncSession, to: datetime, holdout_weeks: int) -> CalibrationOut:
    from app.metrics import clv

    cut = to - timedelta(weeks=holdout_weeks)
    rows = await customer_rows(session, cut, None)
    try:
        ids, frequency, predicted = await asyncio.to_thread(
            _fit_and_predict,
            as_tuples(rows),
            (cut - timedelta(microseconds=1)).date(),
            float(holdout_weeks),
        )
    except clv.InsufficientData as error:
        raise InsufficientFitData(
            f"The calibration fit needs at least {error.needed} {error.what} with purchases "
            f"before the cut; there are {error.got}.",
            extra={"what": error.what, "needed": error.needed, "got": error.got},
        ) from error
    except clv.ClvError as error:
        raise PredictiveFitFailed(str(error)) from error
    # Transactions are purchase days, as in the fit; every holdout day is a repeat.
    day = period_bucket(Event.occurred_at, Period.day, session.get_bind().dialect.name)
    statement = (
        select(Event.customer_id, func.count(distinct(day)))
        .where(Event.type == "purchase", Event.occurred_at >= cut, Event.occurred_at < to)
        .group_by(Event.customer_id)
    )
    actual = {c: int(n) for c, n in (await session.execute(statement)).all()}
    totals: dict[int, list[float]] = {}
    for customer, x, expected in zip(ids, frequency, predicted, strict=True):
        group = totals.setdefault(min(int(x), MAX_FREQUENCY_GROUP), [0, 0.0, 0.0])
        group[0] += 1
        group[1] += actual.get(customer, 0)
        group[2] += expected
    return CalibrationOut(
        cut=cut,
        to=to,
        holdout_weeks=holdout_weeks,
        groups=[
            CalibrationGroup(
                frequency=f"{k}+" if k == MAX_FREQUENCY_GROUP else str(k),
                customers=int(n),
                actual=round(observed / n, 4),
                predicted=round(expected / n, 4),
            )
            for k, (n, observed, expected) in sorted(totals.items())
        ],
    )
