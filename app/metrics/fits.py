"""Stored predictive fits: the latest one per window, each customer's predictions, and
their storage in the request's transaction."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import insert_for
from app.models import CltvFit, CltvPrediction


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


async def stored_fit(session: AsyncSession, key: str) -> CltvFit | None:
    """The stored fit of a window (``PredictiveRequest.key``), if any."""
    return await session.scalar(select(CltvFit).where(CltvFit.key == key))


@dataclass(frozen=True)
class NewFit:
    """A fit to store: the window's key and bounds, the settings it was answered with, its
    parameters and its answer (``summary``)."""

    key: str
    window_from: datetime | None
    window_to: datetime
    time_unit: str
    fitted_at: datetime
    horizon_months: int
    discount_rate: float
    params: dict[str, float]
    summary: dict[str, Any]


async def store(
    session: AsyncSession, fit: NewFit, predictions: list[tuple[str, float, float, float]]
) -> None:
    """Store the fit (replacing the window's previous one) and every customer's
    ``(customer_id, p_alive, expected_transactions, predicted_clv)``, in the caller's
    transaction. Called once the fit is computed, so the write lock is held only for the
    writing."""
    values = {
        "window_from": fit.window_from,
        "window_to": fit.window_to,
        "time_unit": fit.time_unit,
        "fitted_at": fit.fitted_at,
        "horizon": float(fit.horizon_months),
        "discount_rate": fit.discount_rate,
        "params": fit.params,
        "summary": fit.summary,
    }
    insert = insert_for(session)
    statement = insert(CltvFit).values(key=fit.key, **values)
    fit_id = (
        await session.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_=values).returning(
                CltvFit.id
            )
        )
    ).scalar_one()
    await session.execute(delete(CltvPrediction).where(CltvPrediction.fit_id == fit_id))
    await _insert_predictions(session, [(fit_id, *row) for row in predictions])


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


async def latest_answer(session: AsyncSession, end: datetime) -> dict[str, Any] | None:
    """The answer of the most recently stored fit whose window ends at ``end``, with the
    settings it was stored with; None without one."""
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
        "stored": True,
    }
