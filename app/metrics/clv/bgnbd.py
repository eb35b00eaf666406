"""BG/NBD (Fader, Hardie & Lee 2005): the fit, P(alive) and expected transactions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.special import digamma, expit, gammaln

from app.metrics.clv.conditional import alive_expectation
from app.metrics.clv.summary import CustomerSummary
from app.metrics.clv.utils import (
    MIN_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    FitFailed,
    FloatArray,
    InsufficientData,
    Objective,
    TimeUnit,
    by_value,
    check_positive,
    check_time_unit,
    compress,
    maximise,
)

# eq. 10 has the factor 1 / (a - 1); within this distance of a == 1 the removable
# singularity is bridged by interpolating between a = 1 -+ _A_ONE_STEP.
_A_ONE_STEP: Final[float] = 1e-5
# Expected transaction counts below this are reported as 0 (see expected_transactions_at).
_NEGLIGIBLE: Final[float] = 1e-12


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters; ``alpha`` is in ``time_unit``, the others are unit-free."""

    r: float
    alpha: float
    a: float
    b: float
    time_unit: TimeUnit

    def __post_init__(self) -> None:
        check_time_unit(self.time_unit)
        check_positive("BG/NBD", r=self.r, alpha=self.alpha, a=self.a, b=self.b)


@dataclass(frozen=True)
class BGNBDFit:
    """Result of ``fit_bgnbd``; ``log_likelihood`` is the maximised total in the data's units."""

    params: BGNBDParams
    log_likelihood: float
    converged: bool
    n_customers: int
    iterations: int


def _bgnbd_objective(
    x: FloatArray, t_x: FloatArray, big_t: FloatArray, weight: FloatArray
) -> Objective:
    """Mean negative BG/NBD log-likelihood and its gradient in the log-parameters."""
    total = float(weight.sum())
    rep = x > 0
    # x == 0 contributes r * log(alpha / (alpha + T)) only; evaluating the repeat-buyer term
    # there anyway would take log(b - 1), NaN for b < 1, before multiplying it by zero.
    t0, w0 = big_t[~rep], weight[~rep]
    x1, tx1, t1, w1 = x[rep], t_x[rep], big_t[rep], weight[rep]
    # Gamma-function terms depend on x alone, which takes few distinct values: evaluating them
    # once per value instead of once per customer is most of the speed of a 100k-customer fit.
    ux, inv = by_value(x1)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in np.exp(theta))
        log_alpha = math.log(alpha)
        log1p_t0 = np.log1p(t0 / alpha)
        ll0 = -r * log1p_t0
        g0_r = -log1p_t0
        g0_alpha = r / alpha - r / (alpha + t0)
        lg_rx = gammaln(r + ux) - math.lgamma(r)
        lbeta = gammaln(b + ux) - gammaln(a + b + ux) + math.lgamma(a + b) - math.lgamma(b)
        log_bx1 = np.log(b + ux - 1.0)
        dig_ab = float(digamma(a + b))
        dig_r = digamma(r + ux) - float(digamma(r))
        dig_abx = digamma(a + b + ux)
        g_a_const = dig_ab - dig_abx
        g_b_const = dig_ab + digamma(b + ux) - float(digamma(b)) - dig_abx
        inv_bx1 = 1.0 / (b + ux - 1.0)
        rx = r + x1
        log_at = np.log(alpha + t1)
        log_atx = np.log(alpha + tx1)
        a3 = -rx * log_at
        dead = math.log(a) - log_bx1[inv] - rx * log_atx - a3
        ll1 = (lg_rx + lbeta)[inv] + r * log_alpha + a3 + np.logaddexp(0.0, dead)
        # Posterior weight of "dropped out after the last purchase" in the mixture.
        omega = expit(dead)
        g1_r = dig_r[inv] + log_alpha - log_at + omega * (log_at - log_atx)
        inv_at = 1.0 / (alpha + t1)
        g1_alpha = r / alpha - rx * (inv_at + omega * (1.0 / (alpha + tx1) - inv_at))
        g1_a = g_a_const[inv] + omega / a
        g1_b = g_b_const[inv] - omega * inv_bx1[inv]
        loglik = float(w0 @ ll0 + w1 @ ll1)
        grad = np.array(
            [
                r * float(w0 @ g0_r + w1 @ g1_r),
                alpha * float(w0 @ g0_alpha + w1 @ g1_alpha),
                a * float(w1 @ g1_a),
                b * float(w1 @ g1_b),
            ],
            dtype=np.float64,
        )
        return -loglik / total, -grad / total

    return objective


def fit_bgnbd(summary: CustomerSummary, *, require_convergence: bool = True) -> BGNBDFit:
    """Fit BG/NBD by maximum likelihood on all customers of ``summary``.

    Raises ``InsufficientData`` below ``MIN_CUSTOMERS`` customers or ``MIN_REPEAT_CUSTOMERS``
    repeat buyers, and ``FitFailed`` when the result is not finite, sits on the edge of the
    parameter range, or (with ``require_convergence``) the optimiser did not converge; with
    ``require_convergence=False`` a finite unconverged estimate is returned with
    ``converged=False``.
    """
    n = summary.n_customers
    if n < MIN_CUSTOMERS:
        raise InsufficientData("customers", MIN_CUSTOMERS, n)
    n_rep = summary.n_repeat_customers
    if n_rep < MIN_REPEAT_CUSTOMERS:
        raise InsufficientData("customers with repeat transactions", MIN_REPEAT_CUSTOMERS, n_rep)
    (x, t_x, big_t), weight = compress(summary.frequency, summary.recency, summary.T)
    # Time is rescaled so alpha is O(1) whatever the unit; alpha is equivariant to the scale
    # and r, a, b are unit-free, so the estimate maps back exactly.
    scale = float(np.mean(summary.T))
    if not scale > 0:
        raise InsufficientData("customers observed for a positive time", 1, 0)
    objective = _bgnbd_objective(x, t_x / scale, big_t / scale, weight)
    optimum = maximise("BG/NBD", ("r", "alpha", "a", "b"), objective, np.zeros(4))
    if require_convergence and not optimum.converged:
        raise FitFailed("BG/NBD", f"optimiser did not converge: {optimum.message}")
    r, alpha_scaled, a, b = (float(v) for v in np.exp(optimum.theta))
    params = BGNBDParams(r=r, alpha=alpha_scaled * scale, a=a, b=b, time_unit=summary.time_unit)
    theta = np.log(np.array([params.r, params.alpha, params.a, params.b]))
    with np.errstate(all="ignore"):
        mean_nll, _ = _bgnbd_objective(x, t_x, big_t, weight)(theta)
    log_likelihood = -mean_nll * n
    if not math.isfinite(log_likelihood):
        raise FitFailed("BG/NBD", "log-likelihood is not finite")
    return BGNBDFit(params, log_likelihood, optimum.converged, n, optimum.iterations)


def check_units(params: BGNBDParams, summary: CustomerSummary) -> None:
    if params.time_unit != summary.time_unit:
        raise ValueError(
            f"parameters are in {params.time_unit}s but the summary is in {summary.time_unit}s"
        )


def p_alive_of(params: BGNBDParams, summary: CustomerSummary) -> FloatArray:
    x = summary.frequency
    rep = x > 0
    p_alive = np.ones_like(x)
    xr = x[rep]
    log_dropout_odds = (
        math.log(params.a)
        - np.log(params.b + xr - 1.0)
        + (params.r + xr)
        * (np.log(params.alpha + summary.T[rep]) - np.log(params.alpha + summary.recency[rep]))
    )
    p_alive[rep] = expit(-log_dropout_odds)
    return p_alive


def probability_alive(params: BGNBDParams, summary: CustomerSummary) -> FloatArray:
    """P(alive at T | x, t_x, T); 1 for customers without repeat transactions.

    P(alive) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)) for x > 0.
    A customer with x == 0 cannot have dropped out under BG/NBD (dropout happens only right
    after a purchase), hence the usual convention P(alive) = 1 there.
    """
    check_units(params, summary)
    return p_alive_of(params, summary)


def expected_transactions_at(
    params: BGNBDParams, summary: CustomerSummary, t: FloatArray
) -> FloatArray:
    x = summary.frequency
    big_t = summary.T
    p_alive = p_alive_of(params, summary)
    # E = P(alive) * E[Y | alive] <= P(alive) * t (r + x) / (alpha + T); where that is below
    # _NEGLIGIBLE transactions the customer is as good as gone and 0 is exact enough, which
    # spares the slow fallback for customers whose P(alive) underflows.
    upper = p_alive * t * (params.r + x) / (params.alpha + big_t)
    live = upper >= _NEGLIGIBLE
    result = np.zeros_like(t)
    if not np.any(live):
        return result
    x_l, t_l, tt_l = x[live], big_t[live], t[live]

    def at(a: float) -> FloatArray:
        return alive_expectation(params.r, params.alpha, a, params.b, x_l, t_l, tt_l)

    a = params.a
    if abs(a - 1.0) < _A_ONE_STEP:
        # eq. 10 is smooth in a, so a straight line through a = 1 -+ step is within
        # O(step^2) of it, while 1 / (a - 1) right next to 1 would amplify rounding errors.
        low, high = at(1.0 - _A_ONE_STEP), at(1.0 + _A_ONE_STEP)
        alive = low + (a - (1.0 - _A_ONE_STEP)) / (2.0 * _A_ONE_STEP) * (high - low)
    else:
        alive = at(a)
    result[live] = alive * p_alive[live]
    return result


def expected_transactions(params: BGNBDParams, summary: CustomerSummary, t: float) -> FloatArray:
    """Expected repeat transactions in (T, T + t] given (x, t_x, T): eq. 10 of the paper.

    ``t`` is in the summary's time unit. With Euler's transformation the formula reads

        E = (a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)] * P(alive)

    with z = t / (alpha + T + t); a == 1 is handled as the limit.
    """
    check_units(params, summary)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"t must be finite and >= 0, got {t}")
    return expected_transactions_at(params, summary, np.full(summary.n_customers, float(t)))
