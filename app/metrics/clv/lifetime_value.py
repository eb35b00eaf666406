"""Discounted customer lifetime value from a BG/NBD and a Gamma-Gamma fit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.metrics.clv.bgnbd import (
    BGNBDParams,
    check_units,
    expected_transactions_at,
    probability_alive,
)
from app.metrics.clv.gamma_gamma import GammaGammaParams, expected_average_spend
from app.metrics.clv.summary import CustomerSummary
from app.metrics.clv.utils import DAYS_PER_MONTH, DAYS_PER_UNIT, FloatArray, PredictionFailed


@dataclass(frozen=True, eq=False)
class CustomerPredictions:
    """Per-customer predictions over ``horizon_months``, aligned with ``customer_ids``."""

    customer_ids: tuple[str, ...]
    expected_transactions: FloatArray
    probability_alive: FloatArray
    expected_spend: FloatArray
    clv: FloatArray
    horizon_months: int
    annual_discount_rate: float
    margin: float


def monthly_discount_rate(annual_discount_rate: float) -> float:
    """Per-month rate compounding to the annual one: (1 + annual)^(1/12) - 1."""
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate > -1):
        raise ValueError(f"annual_discount_rate must be > -1, got {annual_discount_rate}")
    return math.expm1(math.log1p(annual_discount_rate) / 12.0)


def _clv_terms(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    summary: CustomerSummary,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (expected transactions over the horizon, expected spend, CLV)."""
    check_units(bgnbd, summary)
    if isinstance(horizon_months, bool) or not isinstance(horizon_months, int):
        raise TypeError("horizon_months must be an int")
    if horizon_months < 0:
        raise ValueError(f"horizon_months must be >= 0, got {horizon_months}")
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be finite and >= 0, got {margin}")
    monthly = monthly_discount_rate(annual_discount_rate)
    spend = expected_average_spend(gamma_gamma, summary)
    periods_per_month = DAYS_PER_MONTH / DAYS_PER_UNIT[summary.time_unit]
    n = summary.n_customers
    previous = np.zeros(n, dtype=np.float64)
    discounted = np.zeros(n, dtype=np.float64)
    for month in range(1, horizon_months + 1):
        cumulative = expected_transactions_at(
            bgnbd, summary, np.full(n, month * periods_per_month, dtype=np.float64)
        )
        # Cumulative expectations are increasing in t; max() keeps float noise from
        # producing a negative month.
        cumulative = np.maximum(cumulative, previous)
        discounted += (cumulative - previous) / (1.0 + monthly) ** month
        previous = cumulative
    clv: FloatArray = margin * spend * discounted
    if not (np.all(np.isfinite(clv)) and np.all(np.isfinite(previous))):
        raise PredictionFailed("customer lifetime value is not finite")
    return previous, spend, clv


def customer_lifetime_value(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    summary: CustomerSummary,
    *,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next months.

    CLV = margin * E[M] * sum_{k=1..H} (E[Y(k P)] - E[Y((k-1) P)]) / (1 + d)^k

    where H = ``horizon_months``, P = periods per month (30.4375 days / unit, an average
    calendar month), E[Y(t)] is ``expected_transactions`` from the end of calibration, E[M]
    is ``expected_average_spend``, and d = (1 + annual_discount_rate)^(1/12) - 1, so month
    k's purchases are discounted from the end of month k (as lifetimes'
    ``customer_lifetime_value`` does with a monthly rate).
    """
    _, _, clv = _clv_terms(
        bgnbd, gamma_gamma, summary, horizon_months, annual_discount_rate, margin
    )
    return clv


def predict(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    summary: CustomerSummary,
    *,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
) -> CustomerPredictions:
    """All per-customer predictions; ``expected_transactions`` covers ``horizon_months``."""
    transactions, spend, clv = _clv_terms(
        bgnbd, gamma_gamma, summary, horizon_months, annual_discount_rate, margin
    )
    return CustomerPredictions(
        customer_ids=summary.customer_ids,
        expected_transactions=transactions,
        probability_alive=probability_alive(bgnbd, summary),
        expected_spend=spend,
        clv=clv,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
    )
