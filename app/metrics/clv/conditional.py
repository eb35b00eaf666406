"""E[Y(t) | alive]: the integral inside eq. 10 of Fader, Hardie & Lee (2005), evaluated
by 2F1 where scipy's is reliable, by Gauss-Hermite rules or by quadrature where it is not."""

from __future__ import annotations

import math
import warnings
from typing import Final

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.integrate import IntegrationWarning, quad
from scipy.special import betaln, hyp2f1, log_expit

from app.metrics.clv.utils import FloatArray, PredictionFailed

# The two Gauss-Hermite rules whose agreement is trusted where 2F1 fails.
_HERMITE_NODES: Final[tuple[int, int]] = (48, 64)


def _log_expit(y: float) -> float:
    """log(1 / (1 + exp(-y))) without overflow."""
    if y >= 0:
        return -math.log1p(math.exp(-y))
    return y - math.log1p(math.exp(y))


def _alive_expectation_quad(r: float, a: float, b: float, x: float, s: float) -> float:
    """E[Y(t) | alive at T, data] by numerical integration over p (fallback only).

    Given alive, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) independently, and
    E[Y(t) | lambda, p] = (1 - exp(-lambda p t)) / p; integrating lambda out leaves
    E_p[g(p)], g(p) = (1 - (1 + p s)^-(r + x)) / p with s = t / (alpha + T). The integral is
    taken over the logit of p, centred on the mode and scaled by the curvature there, and
    evaluated in logs, so very concentrated or very spread-out Beta laws both work.
    """
    if s == 0.0:
        return 0.0
    k = r + x
    b_x = b + x
    log_norm = float(betaln(a, b_x))
    mode = math.log(a / b_x)
    width = math.sqrt((a + b_x) / (a * b_x))
    log_ks = math.log(k * s)

    def log_integrand(v: float) -> float:
        y = mode + width * v
        log_p = _log_expit(y)
        u = math.exp(log_p) * s
        if u < 1e-8:
            # Series of g near p = 0; also covers p underflowing to 0 in the far left tail.
            log_g = log_ks + math.log1p(-(k + 1.0) * u / 2.0)
        else:
            log_g = math.log(-math.expm1(-k * math.log1p(u))) - log_p
        return log_g + a * log_p + b_x * _log_expit(-y) - log_norm

    peak = log_integrand(0.0)

    def integrand(v: float) -> float:
        return math.exp(log_integrand(v) - peak)

    left, _ = quad(integrand, -math.inf, 0.0, epsabs=0.0, epsrel=1e-10, limit=200)
    right, _ = quad(integrand, 0.0, math.inf, epsabs=0.0, epsrel=1e-10, limit=200)
    return math.exp(peak) * width * (left + right)


def _alive_expectation_hermite(
    r: float, a: float, b: float, x: FloatArray, s: FloatArray, nodes: int
) -> FloatArray:
    """The integral of ``_alive_expectation_quad`` by Gauss-Hermite rule, for many customers.

    Exact enough where the logit of p is close to normal, i.e. where a and b + x are not
    small, which is where scipy's 2F1 with large parameters fails; callers check it by
    comparing two rules.
    """
    v, w = hermegauss(nodes)
    b_x = b + x
    k = (r + x)[:, None]
    s_col = s[:, None]
    width = np.sqrt((a + b_x) / (a * b_x))[:, None]
    y = np.log(a / b_x)[:, None] + width * v[None, :]
    log_p = log_expit(y)
    u = np.exp(log_p) * s_col
    with np.errstate(all="ignore"):
        log_g = np.where(
            u < 1e-8,
            np.log(k * s_col) + np.log1p(-(k + 1.0) * u / 2.0),
            np.log(-np.expm1(-k * np.log1p(u))) - log_p,
        )
        log_f = log_g + a * log_p + b_x[:, None] * log_expit(-y) + v[None, :] ** 2 / 2.0
        log_f -= betaln(a, b_x)[:, None]
        result: FloatArray = width[:, 0] * (np.exp(log_f) @ w)
    return result


def alive_expectation(
    r: float, alpha: float, a: float, b: float, x: FloatArray, big_t: FloatArray, t: FloatArray
) -> FloatArray:
    """E[Y(t) | alive at T, x, T]: eq. 10 without its P(alive) factor (needs a != 1).

    Euler's transformation turns eq. 10's (1-z)^(r+x) 2F1(r+x, b+x; c; z), c = a+b+x-1,
    into (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z), which does not overflow for large x where
    the original series does.
    """
    z = t / (alpha + big_t + t)
    c = a + b + x - 1.0
    out = np.empty_like(z)
    # scipy's 2F1 is unreliable for a third parameter near or below 0 (x == 0 with a + b
    # close to or under 1), although c * 2F1 is fine; there Gauss' contiguous relation
    # rewrites c F(c) with F(c + 1) and F(c + 2), whose third parameters are >= a + b > 0.
    # It cancels more for z near 1, so it is used only where it is needed.
    direct = c >= 0.25
    big_a = a + b - 1.0 - r
    with np.errstate(all="ignore"):
        if np.any(direct):
            cd, zd = c[direct], z[direct]
            f = hyp2f1(big_a, a - 1.0, cd, zd)
            out[direct] = cd / (a - 1.0) * -np.expm1((a - 1.0) * np.log1p(-zd) + np.log(f))
        if not np.all(direct):
            cc, zc, xc = c[~direct], z[~direct], x[~direct]
            f1 = hyp2f1(big_a, a - 1.0, cc + 1.0, zc)
            f2 = hyp2f1(big_a, a - 1.0, cc + 2.0, zc)
            c_f = (
                (cc - (b + 2.0 * xc + r + 1.0) * zc) * f1
                + (xc + r + 1.0) * (b + xc + 1.0) * zc * f2 / (cc + 1.0)
            ) / (1.0 - zc)
            out[~direct] = (cc - np.exp((a - 1.0) * np.log1p(-zc)) * c_f) / (a - 1.0)
    # Given alive, Y(t) <= N(t) ~ Poisson(lambda t) and E[lambda | alive] = (r + x)/(alpha + T),
    # so anything outside [0, that bound] is a failed 2F1 evaluation, not a prediction.
    bound = t * (r + x) / (alpha + big_t)
    bad = ~np.isfinite(out) | (out < -1e-9 * bound) | (out > bound * (1 + 1e-8))
    s = t / (alpha + big_t)
    if np.any(bad):
        # Two Gauss-Hermite rules that agree are trusted; the rest take the slow scalar path.
        idx = np.flatnonzero(bad)
        coarse = _alive_expectation_hermite(r, a, b, x[idx], s[idx], _HERMITE_NODES[0])
        fine = _alive_expectation_hermite(r, a, b, x[idx], s[idx], _HERMITE_NODES[1])
        agree = np.isfinite(fine) & (np.abs(fine - coarse) <= 1e-10 * np.abs(fine))
        out[idx[agree]] = fine[agree]
        bad = ~np.isfinite(out) | (out < -1e-9 * bound) | (out > bound * (1 + 1e-8))
    for i in np.flatnonzero(bad):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IntegrationWarning)
            out[i] = _alive_expectation_quad(r, a, b, float(x[i]), float(s[i]))
    bad = ~np.isfinite(out) | (out < -1e-9 * bound) | (out > bound * (1 + 1e-8))
    if np.any(bad):
        raise PredictionFailed(
            f"expected transactions could not be evaluated for {int(bad.sum())} customers"
        )
    result: FloatArray = np.clip(out, 0.0, bound)
    return result
