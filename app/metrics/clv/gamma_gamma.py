"""Gamma-Gamma spend (Fader, Hardie & Lee 2005, lifetimes' ``GammaGammaFitter``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from app.metrics.clv.summary import CustomerSummary
from app.metrics.clv.utils import (
    MIN_SPEND_CUSTOMERS,
    FitFailed,
    FloatArray,
    InsufficientData,
    Objective,
    by_value,
    check_positive,
    compress,
    maximise,
)


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters (``gamma`` is lifetimes' ``v``, in money units)."""

    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        check_positive("Gamma-Gamma", p=self.p, q=self.q, gamma=self.gamma)

    @property
    def population_mean_spend(self) -> float:
        """Mean transaction value across customers, p * gamma / (q - 1); needs q > 1."""
        if self.q <= 1:
            raise ValueError(f"mean spend is infinite for q <= 1 (q = {self.q})")
        return self.p * self.gamma / (self.q - 1)


@dataclass(frozen=True)
class GammaGammaFit:
    """Result of ``fit_gamma_gamma``; ``n_customers`` counts the customers it was fitted on."""

    params: GammaGammaParams
    log_likelihood: float
    converged: bool
    n_customers: int
    iterations: int


def _gamma_gamma_objective(x: FloatArray, m: FloatArray, weight: FloatArray) -> Objective:
    """Mean negative Gamma-Gamma log-likelihood of the mean spends and its gradient."""
    total = float(weight.sum())
    log_m = np.log(m)
    ux, inv = by_value(x)
    log_ux = np.log(ux)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, v = (float(t) for t in np.exp(theta))
        # Terms that depend on x alone are evaluated once per distinct x.
        pux = p * ux
        lg = gammaln(pux + q) - gammaln(pux) - math.lgamma(q) + pux * log_ux
        dig_pxq = digamma(pux + q)
        gp_const = ux * (dig_pxq - digamma(pux) + log_ux)
        gq_const = dig_pxq - float(digamma(q))
        px = pux[inv]
        xm_v = x * m + v
        log_xmv = np.log(xm_v)
        log_v = math.log(v)
        ll = lg[inv] + q * log_v + (px - 1.0) * log_m - (px + q) * log_xmv
        g_p = gp_const[inv] + x * (log_m - log_xmv)
        g_q = gq_const[inv] + log_v - log_xmv
        g_v = q / v - (px + q) / xm_v
        grad = np.array(
            [p * float(weight @ g_p), q * float(weight @ g_q), v * float(weight @ g_v)],
            dtype=np.float64,
        )
        return -float(weight @ ll) / total, -grad / total

    return objective


def fit_gamma_gamma(summary: CustomerSummary, *, require_convergence: bool = True) -> GammaGammaFit:
    """Fit the Gamma-Gamma spend model by maximum likelihood.

    Uses the customers with x > 0 and ``monetary`` > 0 (mean repeat spend). Raises
    ``InsufficientData`` below ``MIN_SPEND_CUSTOMERS`` such customers, and ``FitFailed`` as
    ``fit_bgnbd`` does, or when q <= 1 (the population's mean spend would be infinite).
    """
    usable = (summary.frequency > 0) & (summary.monetary > 0)
    n = int(np.count_nonzero(usable))
    if n < MIN_SPEND_CUSTOMERS:
        raise InsufficientData(
            "customers with repeat transactions of positive value", MIN_SPEND_CUSTOMERS, n
        )
    (x, m), weight = compress(summary.frequency[usable], summary.monetary[usable])
    # Money is rescaled so gamma is O(1); gamma is equivariant to the scale and p, q are
    # unit-free.
    scale = float(weight @ m) / n
    objective = _gamma_gamma_objective(x, m / scale, weight)
    optimum = maximise("Gamma-Gamma", ("p", "q", "gamma"), objective, np.zeros(3))
    if require_convergence and not optimum.converged:
        raise FitFailed("Gamma-Gamma", f"optimiser did not converge: {optimum.message}")
    p, q, v_scaled = (float(t) for t in np.exp(optimum.theta))
    if q <= 1:
        raise FitFailed("Gamma-Gamma", f"q = {q:.4g} <= 1 makes the mean spend infinite")
    params = GammaGammaParams(p=p, q=q, gamma=v_scaled * scale)
    theta = np.log(np.array([params.p, params.q, params.gamma]))
    with np.errstate(all="ignore"):
        mean_nll, _ = _gamma_gamma_objective(x, m, weight)(theta)
    log_likelihood = -mean_nll * n
    if not math.isfinite(log_likelihood):
        raise FitFailed("Gamma-Gamma", "log-likelihood is not finite")
    return GammaGammaFit(params, log_likelihood, optimum.converged, n, optimum.iterations)


def expected_average_spend(params: GammaGammaParams, summary: CustomerSummary) -> FloatArray:
    """Conditional expected value of a future transaction, E[M | x, m_x] (Gamma-Gamma).

    E[M] = p (gamma + x m_x) / (p x + q - 1), a weighted average of the population mean
    p gamma / (q - 1) and the customer's own mean m_x. Customers with x == 0 get the
    population mean; a non-positive m_x (refunds outweighing purchases) counts as 0, which
    shrinks the prediction towards 0 but keeps it positive. Needs q > 1.
    """
    if params.q <= 1:
        raise ValueError(f"expected spend is infinite for q <= 1 (q = {params.q})")
    x = summary.frequency
    m = np.maximum(summary.monetary, 0.0)
    spend: FloatArray = params.p * (params.gamma + x * m) / (params.p * x + params.q - 1.0)
    return spend
