"""Predictive CLTV: the per-customer purchase aggregates the BG/NBD fit reads, in SQL.

Only one row per customer leaves the database: the fit needs each customer's first and
last transaction day, how many days they bought on, and the value of their repeat
transactions. Several purchases on one UTC day are one transaction (their amounts add up),
as in Fader, Hardie & Lee (2005).

numpy and scipy (through ``app.metrics.clv``) are imported only when a fit or a prediction
is computed: they are most of a worker's memory at startup (~55 MB of RSS), and this module
is imported by every worker because customer reads show the latest stored prediction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.database import Database, insert_for
from app.errors import Unprocessable
from app.metrics.periods import Period, day_bounds, period_bucket, period_label
from app.models import CltvFit, CltvPrediction, Customer, Event
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.metrics import clv

MAX_TOP = 100


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    first_day: date
    last_day: date
    transaction_days: int
    repeat_value_sum: float


async def customer_rows(
    session: AsyncSession, end: datetime, cohort_start: datetime | None
) -> list[CustomerRow]:
    """One row per customer with a purchase before ``end``.

    With ``cohort_start``, only customers whose first purchase is on or after it (an
    acquisition cohort, like the CDNOW sample) take part.
    """
    dialect = session.get_bind().dialect.name
    day = period_bucket(Event.occurred_at, Period.day, dialect)
    conditions = [Event.type == "purchase", Event.occurred_at < end]
    # One pass over the purchases in customer order (an index holds them so), then, per
    # customer, a look at their first day's purchases: repeat value = total - first day.
    # Grouping by (customer, day) first and then by customer took four times as long.
    per_customer = select(
        Event.customer_id.label("customer_id"),
        func.min(Event.occurred_at).label("first_at"),
        func.max(Event.occurred_at).label("last_at"),
        func.count(distinct(day)).label("transaction_days"),
        func.sum(Event.amount).label("total"),
    )
    if cohort_start is not None:
        per_customer = per_customer.join(Customer, Customer.id == Event.customer_id)
        conditions.append(Customer.first_purchase_at >= cohort_start)
    customers = per_customer.where(and_(*conditions)).group_by(Event.customer_id).subquery()
    first_day, next_day = day_bounds(customers.c.first_at, dialect)
    same_day = aliased(Event)
    first_day_value = (
        select(func.sum(same_day.amount))
        .where(
            same_day.type == "purchase",
            same_day.customer_id == customers.c.customer_id,
            same_day.occurred_at >= first_day,
            same_day.occurred_at < next_day,
            same_day.occurred_at < end,
        )
        .scalar_subquery()
    )
    statement = select(
        customers.c.customer_id,
        period_label(period_bucket(customers.c.first_at, Period.day, dialect), dialect).label(
            "first_day"
        ),
        period_label(period_bucket(customers.c.last_at, Period.day, dialect), dialect).label(
            "last_day"
        ),
        customers.c.transaction_days,
        (customers.c.total - first_day_value).label("repeat_value_sum"),
    ).order_by(customers.c.customer_id)
    return [
        CustomerRow(
            customer_id=r.customer_id,
            first_day=date.fromisoformat(r.first_day),
            last_day=date.fromisoformat(r.last_day),
            transaction_days=int(r.transaction_days),
            repeat_value_sum=float(r.repeat_value_sum or 0),
        )
        for r in (await session.execute(statement)).all()
    ]


def _tuples(rows: list[CustomerRow]) -> list[tuple[str, date, date, int, float]]:
    # dataclasses.astuple deep-copies every field: a second per 100,000 customers.
    return [
        (r.customer_id, r.first_day, r.last_day, r.transaction_days, r.repeat_value_sum)
        for r in rows
    ]


@dataclass(frozen=True)
class Prediction:
    p_alive: float
    expected_transactions: float
    predicted_clv: float | None
    fit: CltvFit


async def latest_prediction(session: AsyncSession, customer_id: str) -> Prediction | None:
    """The customer's predictions from the most recent fit; None without one, or when that
    fit did not include them (no purchase before its window's end)."""
    fit = await session.scalar(
        select(CltvFit).order_by(CltvFit.fitted_at.desc(), CltvFit.id.desc()).limit(1)
    )
    if fit is None:
        return None
    row = await session.get(CltvPrediction, (fit.id, customer_id))
    if row is None:
        return None
    return Prediction(
        p_alive=row.p_alive,
        expected_transactions=row.expected_transactions,
        predicted_clv=row.predicted_clv,
        fit=fit,
    )


# --- The fit, its cache and its answer ------------------------------------------------------


class InsufficientFitData(Unprocessable):
    slug = "insufficient-data"
    title = "Too little purchase history for the predictive fit"


class PredictiveFitFailed(Unprocessable):
    slug = "fit-failed"
    title = "The predictive model could not be fitted to this data"


@dataclass(frozen=True)
class PredictiveRequest:
    cohort_start: datetime | None
    end: datetime
    time_unit: clv.TimeUnit
    horizon_months: int
    annual_discount_rate: float
    margin: float
    top: int
    refresh: bool

    @property
    def key(self) -> str:
        start = self.cohort_start.isoformat() if self.cohort_start else "-"
        return f"{start}|{self.end.isoformat()}|{self.time_unit}"

    @property
    def observation_end(self) -> date:
        # Purchases before `end` count; the last day observed is the one holding its last
        # instant (for `to=1997-09-30`, the day 1997-09-30 itself).
        return (self.end - timedelta(microseconds=1)).astimezone(UTC).date()

    def settings(self) -> dict[str, float]:
        return {
            "horizon_months": self.horizon_months,
            "annual_discount_rate": self.annual_discount_rate,
            "margin": self.margin,
        }


@dataclass(frozen=True)
class _Fitted:
    summary: clv.CustomerSummary
    bgnbd: clv.BGNBDFit
    gamma_gamma: clv.GammaGammaFit


def _fit(rows: list[CustomerRow], request: PredictiveRequest) -> _Fitted:
    from app.metrics import clv

    summary = clv.summarize(_tuples(rows), request.observation_end, request.time_unit)
    return _Fitted(summary, clv.fit_bgnbd(summary), clv.fit_gamma_gamma(summary))


def _predict(
    summary: clv.CustomerSummary,
    bgnbd: clv.BGNBDParams,
    gamma_gamma: clv.GammaGammaParams,
    request: PredictiveRequest,
) -> clv.CustomerPredictions:
    from app.metrics import clv

    return clv.predict(
        bgnbd,
        gamma_gamma,
        summary,
        horizon_months=request.horizon_months,
        annual_discount_rate=request.annual_discount_rate,
        margin=request.margin,
    )


def _problem(error: clv.ClvError) -> Unprocessable:
    from app.metrics import clv

    if isinstance(error, clv.InsufficientData):
        return InsufficientFitData(
            f"The predictive fit needs at least {error.needed} {error.what} with purchases "
            f"before `to`; there are {error.got}.",
            extra={"what": error.what, "needed": error.needed, "got": error.got},
        )
    return PredictiveFitFailed(str(error))


P_ALIVE_BINS = 10
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
QUANTILE_NAMES = ("p10", "p25", "p50", "p75", "p90")


def _answer_details(
    summary: clv.CustomerSummary,
    predictions: clv.CustomerPredictions,
    params: dict[str, float],
    fit_details: dict[str, Any],
    request: PredictiveRequest,
) -> dict[str, Any]:
    import numpy as np

    clv_values = predictions.clv
    alive = predictions.probability_alive
    counts, _ = np.histogram(alive, bins=P_ALIVE_BINS, range=(0.0, 1.0))
    quantiles = np.quantile(alive, QUANTILES)
    order = np.argsort(-clv_values, kind="stable")[: request.top]
    return {
        "value": round(float(np.mean(clv_values)), 4),
        "time_unit": request.time_unit,
        **request.settings(),
        "customers": summary.n_customers,
        "repeat_customers": summary.n_repeat_customers,
        "params": params,
        "fit": fit_details,
        "expected_transactions": round(float(np.sum(predictions.expected_transactions)), 4),
        "total_clv": round(float(np.sum(clv_values)), 4),
        "p_alive": {
            "mean": round(float(np.mean(alive)), 6),
            "quantiles": dict(
                zip(
                    ("p10", "p25", "p50", "p75", "p90"),
                    (round(float(q), 6) for q in quantiles),
                    strict=True,
                )
            ),
            "histogram": [
                {"from": i / P_ALIVE_BINS, "to": (i + 1) / P_ALIVE_BINS, "customers": int(c)}
                for i, c in enumerate(counts)
            ],
        },
        "top_customers": [
            {
                "customer_id": summary.customer_ids[i],
                "predicted_clv": round(float(clv_values[i]), 4),
                "p_alive": round(float(alive[i]), 6),
                "expected_transactions": round(float(predictions.expected_transactions[i]), 6),
                "frequency": int(summary.frequency[i]),
                "recency": round(float(summary.recency[i]), 6),
                "T": round(float(summary.T[i]), 6),
                "monetary": round(float(summary.monetary[i]), 4),
            }
            for i in order
        ],
    }


async def _store(
    database: Database,
    request: PredictiveRequest,
    params: dict[str, float],
    details: dict[str, Any],
    predictions: clv.CustomerPredictions,
    fitted_at: datetime,
) -> None:
    """Write the fit and every customer's predictions in a short transaction of its own, so
    that the fit itself never holds a write lock."""
    values = {
        "window_from": request.cohort_start,
        "window_to": request.end,
        "time_unit": request.time_unit,
        "fitted_at": fitted_at,
        "horizon": float(request.horizon_months),
        "discount_rate": request.annual_discount_rate,
        "params": params,
        "summary": details,
    }
    async with database.sessionmaker() as session, session.begin():
        insert = insert_for(session)
        statement = insert(CltvFit).values(key=request.key, **values)
        fit_id = (
            await session.execute(
                statement.on_conflict_do_update(index_elements=["key"], set_=values).returning(
                    CltvFit.id
                )
            )
        ).scalar_one()
        await session.execute(delete(CltvPrediction).where(CltvPrediction.fit_id == fit_id))
        rows = [
            (
                fit_id,
                customer_id,
                float(predictions.probability_alive[i]),
                float(predictions.expected_transactions[i]),
                float(predictions.clv[i]),
            )
            for i, customer_id in enumerate(predictions.customer_ids)
        ]
        await _insert_predictions(session, rows)


_PREDICTION_COLUMNS = ("fit_id", "customer_id", "p_alive", "expected_transactions", "predicted_clv")
_SQLITE_INSERT = (
    "INSERT INTO cltv_predictions (fit_id, customer_id, p_alive, expected_transactions, "
    "predicted_clv) VALUES (?, ?, ?, ?, ?)"
)


async def _insert_predictions(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Every customer's predictions (100,000 rows at the bench's scale) through the
    driver's bulk path: COPY on PostgreSQL, one executemany on SQLite. The ORM's
    per-row parameter handling took longer than the database."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            CltvPrediction.__tablename__, records=rows, columns=list(_PREDICTION_COLUMNS)
        )
        return
    await connection.exec_driver_sql(_SQLITE_INSERT, rows)


def _params(bgnbd: clv.BGNBDParams, gamma_gamma: clv.GammaGammaParams) -> dict[str, float]:
    return {
        "r": bgnbd.r,
        "alpha": bgnbd.alpha,
        "a": bgnbd.a,
        "b": bgnbd.b,
        "p": gamma_gamma.p,
        "q": gamma_gamma.q,
        "gamma": gamma_gamma.gamma,
    }


async def predictive(
    session: AsyncSession, database: Database, request: PredictiveRequest
) -> dict[str, Any]:
    """The predictive CLTV answer, from the cached fit of the window when there is one.

    A cached fit answered with other settings (horizon, discount rate, margin) keeps its
    parameters: only the predictions are recomputed, and stored as the fit's latest.
    """
    from app.metrics import clv

    cached = None
    if not request.refresh:
        cached = await session.scalar(select(CltvFit).where(CltvFit.key == request.key))
    if cached is not None and cached.summary.get("settings") == request.settings():
        stored: dict[str, Any] = cached.summary["answer"]
        top = stored["top_customers"][: request.top]
        return {**stored, "top_customers": top, "fitted_at": cached.fitted_at, "cached": True}

    rows = await customer_rows(session, request.end, request.cohort_start)
    try:
        if cached is None:
            fitted = await asyncio.to_thread(_fit, rows, request)
            summary = fitted.summary
            bgnbd, gamma_gamma = fitted.bgnbd.params, fitted.gamma_gamma.params
            fit_details: dict[str, Any] = {
                "bgnbd_log_likelihood": fitted.bgnbd.log_likelihood,
                "gamma_gamma_log_likelihood": fitted.gamma_gamma.log_likelihood,
                "gamma_gamma_customers": fitted.gamma_gamma.n_customers,
            }
            fitted_at = utcnow()
        else:
            summary = clv.summarize(_tuples(rows), request.observation_end, request.time_unit)
            if not summary.n_customers:
                raise clv.InsufficientData("customers", clv.MIN_CUSTOMERS, 0)
            p = cached.params
            bgnbd = clv.BGNBDParams(p["r"], p["alpha"], p["a"], p["b"], request.time_unit)
            gamma_gamma = clv.GammaGammaParams(p["p"], p["q"], p["gamma"])
            fit_details = cached.summary["answer"]["fit"]
            fitted_at = cached.fitted_at
        predictions = await asyncio.to_thread(_predict, summary, bgnbd, gamma_gamma, request)
    except clv.ClvError as error:
        raise _problem(error) from error
    params = _params(bgnbd, gamma_gamma)
    # The stored answer keeps enough top customers for any `top` asked later.
    keep = PredictiveRequest(**{**request.__dict__, "top": MAX_TOP})
    answer = _answer_details(summary, predictions, params, fit_details, keep)
    await _store(
        database,
        request,
        params,
        {"settings": request.settings(), "answer": answer},
        predictions,
        fitted_at,
    )
    return {
        **answer,
        "top_customers": answer["top_customers"][: request.top],
        "fitted_at": fitted_at,
        "cached": cached is not None,
    }


async def cached_answer(session: AsyncSession, end: datetime) -> dict[str, Any] | None:
    """The most recent cached fit whose window ends at ``end``, as last answered; no fit."""
    fit = await session.scalar(
        select(CltvFit)
        .where(CltvFit.window_to == end)
        .order_by(CltvFit.fitted_at.desc(), CltvFit.id.desc())
        .limit(1)
    )
    if fit is None:
        return None
    answer: dict[str, Any] = fit.summary["answer"]
    return {
        **answer,
        "from": fit.window_from,
        "to": fit.window_to,
        "top_customers": answer["top_customers"][:10],
        "fitted_at": fit.fitted_at,
        "cached": True,
    }
