"""Predictive CLTV: fit BG/NBD and Gamma-Gamma to the purchases, predict, and answer.

A GET reads (``read``): the window's stored fit when there is one, or else a fit computed
for the answer and not stored. ``POST /v1/metrics/cltv/fits`` refits and stores
(``refit``). The stored fit feeds customers' profiles and the summary.

numpy and scipy (through ``app.metrics.clv``) are imported only when a fit or a prediction
is computed: they are most of a worker's memory at startup (~55 MB of RSS), and this module
is imported by every worker because customer reads show the latest stored prediction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Unprocessable
from app.metrics import fits
from app.metrics.fits import Prediction, latest_prediction
from app.metrics.predictive_results import PredictiveCltvResult
from app.metrics.queries.transactions import CustomerRow, as_tuples, customer_rows
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.metrics import clv

__all__ = [
    "MAX_TOP",
    "InsufficientFitData",
    "Prediction",
    "PredictiveFitFailed",
    "PredictiveRequest",
    "latest_prediction",
    "read",
    "refit",
]

MAX_TOP = 100


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

    summary = clv.summarize(as_tuples(rows), request.observation_end, request.time_unit)
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


@dataclass(frozen=True)
class _Answer:
    """An answer with every customer's predictions, before it is trimmed to ``top``."""

    details: dict[str, Any]  # as stored: MAX_TOP top customers
    params: dict[str, float]
    predictions: list[tuple[str, float, float, float]]
    fitted_at: datetime


async def _compute(
    rows: list[CustomerRow], request: PredictiveRequest, stored: Any | None
) -> _Answer:
    """Fit (or, with ``stored``, take its parameters) and predict, off the event loop."""
    from app.metrics import clv

    try:
        if stored is None:
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
            summary = clv.summarize(as_tuples(rows), request.observation_end, request.time_unit)
            if not summary.n_customers:
                raise clv.InsufficientData("customers", clv.MIN_CUSTOMERS, 0)
            p = stored.params
            bgnbd = clv.BGNBDParams(p["r"], p["alpha"], p["a"], p["b"], request.time_unit)
            gamma_gamma = clv.GammaGammaParams(p["p"], p["q"], p["gamma"])
            fit_details = stored.summary["answer"]["fit"]
            fitted_at = stored.fitted_at
        predictions = await asyncio.to_thread(_predict, summary, bgnbd, gamma_gamma, request)
    except clv.ClvError as error:
        raise _problem(error) from error
    params = _params(bgnbd, gamma_gamma)
    # The stored answer keeps enough top customers for any `top` asked later.
    details = _answer_details(
        summary, predictions, params, fit_details, replace(request, top=MAX_TOP)
    )
    per_customer = [
        (
            customer_id,
            float(predictions.probability_alive[i]),
            float(predictions.expected_transactions[i]),
            float(predictions.clv[i]),
        )
        for i, customer_id in enumerate(predictions.customer_ids)
    ]
    return _Answer(details, params, per_customer, fitted_at)


def _result(
    details: dict[str, Any],
    request: PredictiveRequest,
    fitted_at: datetime,
    *,
    cached: bool,
    stored: bool,
) -> PredictiveCltvResult:
    return PredictiveCltvResult.model_validate(
        {
            **details,
            "method": "predictive",
            "top_customers": details["top_customers"][: request.top],
            "fitted_at": fitted_at,
            "cached": cached,
            "stored": stored,
        }
    )


async def read(session: AsyncSession, request: PredictiveRequest) -> PredictiveCltvResult:
    """The answer for a GET, which never writes: the window's stored fit as stored, or its
    parameters with other settings (horizon, discount rate, margin); without a stored fit,
    one computed now and not stored."""
    stored = await fits.stored_fit(session, request.key)
    if stored is not None and stored.summary.get("settings") == request.settings():
        answer: dict[str, Any] = stored.summary["answer"]
        return _result(answer, request, stored.fitted_at, cached=True, stored=True)
    rows = await customer_rows(session, request.end, request.cohort_start)
    computed = await _compute(rows, request, stored)
    return _result(
        computed.details,
        request,
        computed.fitted_at,
        cached=stored is not None,
        stored=stored is not None,
    )


async def refit(
    read_session: AsyncSession, session: AsyncSession, request: PredictiveRequest
) -> PredictiveCltvResult:
    """Fit the window afresh and store it, with every customer's predictions, replacing the
    window's previous fit. The purchases are read on ``read_session`` and the fit runs
    before ``session`` (the request's unit of work) writes, so no write lock is held while
    it computes."""
    rows = await customer_rows(read_session, request.end, request.cohort_start)
    computed = await _compute(rows, request, None)
    await fits.store(
        session,
        fits.NewFit(
            key=request.key,
            window_from=request.cohort_start,
            window_to=request.end,
            time_unit=request.time_unit,
            fitted_at=computed.fitted_at,
            horizon_months=request.horizon_months,
            discount_rate=request.annual_discount_rate,
            params=computed.params,
            summary={"settings": request.settings(), "answer": computed.details},
        ),
        computed.predictions,
    )
    return _result(computed.details, request, computed.fitted_at, cached=False, stored=True)
