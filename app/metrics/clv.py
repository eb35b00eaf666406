"""Predictive customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend.

Models:

* BG/NBD - Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative
  to the Pareto/NBD Model", Marketing Science 24(2). While alive a customer buys as a Poisson
  process with rate lambda ~ Gamma(r, alpha); after every transaction they drop out with
  probability p ~ Beta(a, b).
* Gamma-Gamma - Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
  Base Analysis", Journal of Marketing Research 42(4) (the model of lifetimes'
  ``GammaGammaFitter``; its ``v`` is ``gamma`` here). Transaction values are Gamma(p, nu) with
  nu ~ Gamma(q, gamma) across customers, independent of the purchase process.

Pipeline: ``summarize`` (rows of a per-customer SQL aggregate) -> ``fit_bgnbd`` and
``fit_gamma_gamma`` -> ``expected_transactions`` / ``probability_alive`` /
``expected_average_spend`` / ``customer_lifetime_value``, or ``predict`` for all of them at
once. Nothing here returns NaN or inf: bad input raises ``ValueError``, too little data
raises ``InsufficientData``, and a fit that cannot be trusted raises ``FitFailed``.

Minimum data (module constants):

* BG/NBD needs ``MIN_CUSTOMERS`` (10) customers, of whom ``MIN_REPEAT_CUSTOMERS`` (5) made at
  least one repeat transaction: without repeat buyers the purchase rate and the dropout
  process are not identified (with all x == 0 the likelihood keeps rising as lambda -> 0).
* Gamma-Gamma needs ``MIN_SPEND_CUSTOMERS`` (5) customers with x > 0 and a positive mean
  repeat spend; it is fitted on those customers only, as in the paper.

Even above these minimums a small sample can send a maximum-likelihood estimate to the edge of
the parameter space (for example a homogeneous population, where a and b grow without bound);
such a fit raises ``FitFailed`` rather than returning a meaningless boundary value.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from numpy.polynomial.hermite_e import hermegauss
from scipy.integrate import IntegrationWarning, quad
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, log_expit

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_UNIT",
    "MIN_CUSTOMERS",
    "MIN_REPEAT_CUSTOMERS",
    "MIN_SPEND_CUSTOMERS",
    "BGNBDFit",
    "BGNBDParams",
    "ClvError",
    "CustomerPredictions",
    "CustomerSummary",
    "FitFailed",
    "GammaGammaFit",
    "GammaGammaParams",
    "InsufficientData",
    "PredictionFailed",
    "TimeUnit",
    "customer_lifetime_value",
    "expected_average_spend",
    "expected_transactions",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "monthly_discount_rate",
    "predict",
    "probability_alive",
    "summarize",
]

FloatArray = npt.NDArray[np.float64]
TimeUnit = Literal["day", "week"]

DAYS_PER_UNIT: Final[dict[str, float]] = {"day": 1.0, "week": 7.0}
# A calendar-average month, so that a 12-month horizon is exactly one average year.
DAYS_PER_MONTH: Final[float] = 365.25 / 12.0

MIN_CUSTOMERS: Final[int] = 10
MIN_REPEAT_CUSTOMERS: Final[int] = 5
MIN_SPEND_CUSTOMERS: Final[int] = 5

# The optimiser works on log-parameters (after rescaling time and money to O(1)) boxed to
# +-_LOG_BOX, so a likelihood that keeps rising towards a degenerate limit stops instead of
# overflowing; an estimate beyond +-_LOG_LIMIT (a factor of about 22,000 either way) is
# such a drift, or too extreme to predict from, and is reported as a failed fit.
_LOG_BOX: Final[float] = 12.0
_LOG_LIMIT: Final[float] = 10.0
# L-BFGS-B can stop with "abnormal termination in line search" when it is already at the
# optimum and float noise hides further progress; a tiny gradient of the mean log-likelihood
# is accepted as convergence then.
_GRAD_TOL: Final[float] = 1e-5
# eq. 10 has the factor 1 / (a - 1); within this distance of a == 1 the removable
# singularity is bridged by interpolating between a = 1 -+ _A_ONE_STEP.
_A_ONE_STEP: Final[float] = 1e-5
# Expected transaction counts below this are reported as 0 (see _expected_transactions).
_NEGLIGIBLE: Final[float] = 1e-12
_HERMITE_NODES: Final[tuple[int, int]] = (48, 64)


class ClvError(Exception):
    """Base class of the errors this module raises on purpose."""


class InsufficientData(ClvError):
    """Too little data to fit a model; ``needed`` and ``got`` count ``what``."""

    def __init__(self, what: str, needed: int, got: int) -> None:
        self.what = what
        self.needed = needed
        self.got = got
        super().__init__(f"need at least {needed} {what}, got {got}")


class FitFailed(ClvError):
    """The maximum-likelihood fit did not produce a usable estimate."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"{model} fit failed: {reason}")


class PredictionFailed(ClvError):
    """A prediction could not be evaluated to a finite value."""


def _as_float_array(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    arr.setflags(write=False)
    return arr


def _check_time_unit(time_unit: str) -> TimeUnit:
    if time_unit == "day":
        return "day"
    if time_unit == "week":
        return "week"
    raise ValueError(f"time_unit must be 'day' or 'week', got {time_unit!r}")


@dataclass(frozen=True, eq=False, init=False)
class CustomerSummary:
    """Per-customer RFM summary; arrays are aligned with ``customer_ids`` and read-only.

    ``frequency`` x: repeat transactions (transaction periods after the first).
    ``recency`` t_x: time from the first to the last transaction (0 when x == 0).
    ``T``: time from the first transaction to the end of the calibration period.
    ``monetary``: mean value of the repeat transactions (0 when x == 0).
    Times are in ``time_unit``. The constructor takes any array-likes, copies them to
    float64 and raises ``ValueError`` on inconsistent values.
    """

    customer_ids: tuple[str, ...]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary: FloatArray
    time_unit: TimeUnit

    def __init__(
        self,
        customer_ids: Iterable[str],
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        monetary: npt.ArrayLike,
        time_unit: TimeUnit,
    ) -> None:
        ids = tuple(customer_ids)
        n = len(ids)
        x = _as_float_array("frequency", frequency)
        t_x = _as_float_array("recency", recency)
        big_t = _as_float_array("T", T)
        m = _as_float_array("monetary", monetary)
        for name, arr in (("frequency", x), ("recency", t_x), ("T", big_t), ("monetary", m)):
            if arr.shape != (n,):
                raise ValueError(f"{name} has {arr.shape[0]} entries for {n} customer ids")
        if len(set(ids)) != n:
            raise ValueError("customer_ids are not unique")
        if np.any(x < 0) or np.any(x != np.floor(x)):
            raise ValueError("frequency must hold non-negative whole numbers")
        if np.any(t_x < 0) or np.any(t_x > big_t):
            raise ValueError("recency must satisfy 0 <= recency <= T")
        no_repeat = x == 0
        if np.any(t_x[no_repeat] != 0) or np.any(m[no_repeat] != 0):
            raise ValueError("recency and monetary must be 0 for customers with frequency 0")
        object.__setattr__(self, "customer_ids", ids)
        object.__setattr__(self, "frequency", x)
        object.__setattr__(self, "recency", t_x)
        object.__setattr__(self, "T", big_t)
        object.__setattr__(self, "monetary", m)
        object.__setattr__(self, "time_unit", _check_time_unit(time_unit))

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.customer_ids)

    @property
    def n_repeat_customers(self) -> int:
        """Number of customers with at least one repeat transaction."""
        return int(np.count_nonzero(self.frequency))


def _as_date(name: str, value: object) -> date:
    # datetime is a date subclass, but mixing the two in subtraction raises TypeError.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"{name} must be a date, got {type(value).__name__}")


def _as_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"transaction_days must be an int, got {type(value).__name__}")
    return int(value)


def _as_amount(value: object) -> float:
    # SUM() over no rows is NULL in SQL, so None means "no repeat value".
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int | np.number):
        raise TypeError(f"repeat_value_sum must be a number, got {type(value).__name__}")
    amount = float(value)
    if not math.isfinite(amount):
        raise ValueError("repeat_value_sum must be finite")
    return amount


def summarize(
    rows: Iterable[Sequence[object]],
    observation_end: date,
    time_unit: TimeUnit = "week",
) -> CustomerSummary:
    """Build a ``CustomerSummary`` from per-customer aggregate rows.

    Each row is ``(customer_id, first_day, last_day, transaction_days, repeat_value_sum)``:
    the first and last day with a purchase on or before ``observation_end``, the number of
    distinct purchase days (all purchases on one day are one transaction), and the summed
    value of every purchase day except the first (None is read as 0). ``customer_id`` is
    stored as ``str(customer_id)``.

    Time convention (the one of lifetimes' ``summary_data_from_transaction_data`` with
    ``observation_period_end``): with D days per unit (1 for "day", 7 for "week")

        x   = transaction_days - 1
        t_x = (last_day - first_day).days / D
        T   = (observation_end - first_day).days / D

    i.e. T is a plain date difference to ``observation_end``, not to the end of that day.
    For CDNOW with observation_end = 1997-09-30 a customer first buying on 1997-01-01 gets
    T = 272 / 7 = 38.857 weeks, the 38.86 of the published data set, and this reproduces the
    published BG/NBD estimates; counting through the end of the day (273 / 7 = 39.0) does not.
    ``monetary`` = repeat_value_sum / x (0 when x == 0).
    """
    unit = _check_time_unit(time_unit)
    days_per_unit = DAYS_PER_UNIT[unit]
    end = _as_date("observation_end", observation_end)
    ids: list[str] = []
    freq: list[float] = []
    rec: list[float] = []
    age: list[float] = []
    mon: list[float] = []
    for row in rows:
        if len(row) != 5:
            raise ValueError(f"expected 5 fields per row, got {len(row)}: {row!r}")
        customer_id = str(row[0])
        first = _as_date("first_day", row[1])
        last = _as_date("last_day", row[2])
        n_days = _as_count(row[3])
        value_sum = _as_amount(row[4])
        span = (last - first).days
        if not first <= last <= end:
            raise ValueError(
                f"customer {customer_id}: need first_day <= last_day <= observation_end"
            )
        if n_days < 1 or n_days > span + 1:
            raise ValueError(
                f"customer {customer_id}: transaction_days={n_days} impossible for "
                f"{span + 1} calendar days"
            )
        if n_days == 1 and (span != 0 or value_sum != 0):
            raise ValueError(
                f"customer {customer_id}: a single purchase day needs last_day == first_day "
                "and repeat_value_sum == 0"
            )
        if n_days > 1 and span == 0:
            raise ValueError(f"customer {customer_id}: repeat purchases need last_day > first_day")
        repeats = n_days - 1
        ids.append(customer_id)
        freq.append(float(repeats))
        rec.append(span / days_per_unit)
        age.append((end - first).days / days_per_unit)
        mon.append(value_sum / repeats if repeats else 0.0)
    return CustomerSummary(
        customer_ids=tuple(ids),
        frequency=np.array(freq, dtype=np.float64),
        recency=np.array(rec, dtype=np.float64),
        T=np.array(age, dtype=np.float64),
        monetary=np.array(mon, dtype=np.float64),
        time_unit=unit,
    )


def _check_positive(model: str, **values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{model} parameter {name} must be positive and finite, got {value}")


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters; ``alpha`` is in ``time_unit``, the others are unit-free."""

    r: float
    alpha: float
    a: float
    b: float
    time_unit: TimeUnit

    def __post_init__(self) -> None:
        _check_time_unit(self.time_unit)
        _check_positive("BG/NBD", r=self.r, alpha=self.alpha, a=self.a, b=self.b)


@dataclass(frozen=True)
class BGNBDFit:
    """Result of ``fit_bgnbd``; ``log_likelihood`` is the maximised total in the data's units."""

    params: BGNBDParams
    log_likelihood: float
    converged: bool
    n_customers: int
    iterations: int


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters (``gamma`` is lifetimes' ``v``, in money units)."""

    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        _check_positive("Gamma-Gamma", p=self.p, q=self.q, gamma=self.gamma)

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


_Objective = Callable[[FloatArray], tuple[float, FloatArray]]


@dataclass(frozen=True)
class _Optimum:
    theta: FloatArray
    converged: bool
    iterations: int
    message: str


def _maximise(
    model: str, names: tuple[str, ...], objective: _Objective, start: FloatArray
) -> _Optimum:
    """Minimise a mean negative log-likelihood over boxed log-parameters."""
    with np.errstate(all="ignore"):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOX, _LOG_BOX)] * start.size,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        theta = np.asarray(result.x, dtype=np.float64)
        value, grad = objective(theta)
    if not (math.isfinite(value) and np.all(np.isfinite(theta)) and np.all(np.isfinite(grad))):
        raise FitFailed(model, "the log-likelihood is not finite at the optimiser's result")
    drifted = [name for name, value in zip(names, theta, strict=True) if abs(value) > _LOG_LIMIT]
    if drifted:
        raise FitFailed(
            model,
            f"{', '.join(drifted)} ran to the edge of the parameter range; the data do not "
            "identify the model (too few customers, or no visible heterogeneity or dropout)",
        )
    converged = bool(result.success) or float(np.max(np.abs(grad))) <= _GRAD_TOL
    return _Optimum(theta, converged, int(result.nit), str(result.message))


def _by_value(values: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct values and the index of each element's value among them."""
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.reshape(-1)


def _bgnbd_objective(
    x: FloatArray, t_x: FloatArray, big_t: FloatArray, weight: FloatArray
) -> _Objective:
    """Mean negative BG/NBD log-likelihood and its gradient in the log-parameters."""
    total = float(weight.sum())
    rep = x > 0
    # x == 0 contributes r * log(alpha / (alpha + T)) only; evaluating the repeat-buyer term
    # there anyway would take log(b - 1), NaN for b < 1, before multiplying it by zero.
    t0, w0 = big_t[~rep], weight[~rep]
    x1, tx1, t1, w1 = x[rep], t_x[rep], big_t[rep], weight[rep]
    # Gamma-function terms depend on x alone, which takes few distinct values: evaluating them
    # once per value instead of once per customer is most of the speed of a 100k-customer fit.
    ux, inv = _by_value(x1)

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


def _compress(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical rows into one with a count, which shrinks day-granular data a lot."""
    n = columns[0].size
    # lexsort on plain float columns is several times faster than np.unique(axis=0).
    order = np.lexsort(columns[::-1])
    ordered = [c[order] for c in columns]
    starts_mask = np.zeros(n, dtype=bool)
    starts_mask[:1] = True
    for col in ordered:
        starts_mask[1:] |= col[1:] != col[:-1]
    starts = np.flatnonzero(starts_mask)
    counts = np.diff(np.append(starts, n)).astype(np.float64)
    return [np.ascontiguousarray(col[starts]) for col in ordered], counts


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
    (x, t_x, big_t), weight = _compress(summary.frequency, summary.recency, summary.T)
    # Time is rescaled so alpha is O(1) whatever the unit; alpha is equivariant to the scale
    # and r, a, b are unit-free, so the estimate maps back exactly.
    scale = float(np.mean(summary.T))
    if not scale > 0:
        raise InsufficientData("customers observed for a positive time", 1, 0)
    objective = _bgnbd_objective(x, t_x / scale, big_t / scale, weight)
    optimum = _maximise("BG/NBD", ("r", "alpha", "a", "b"), objective, np.zeros(4))
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


def _gamma_gamma_objective(x: FloatArray, m: FloatArray, weight: FloatArray) -> _Objective:
    """Mean negative Gamma-Gamma log-likelihood of the mean spends and its gradient."""
    total = float(weight.sum())
    log_m = np.log(m)
    ux, inv = _by_value(x)
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
    (x, m), weight = _compress(summary.frequency[usable], summary.monetary[usable])
    # Money is rescaled so gamma is O(1); gamma is equivariant to the scale and p, q are
    # unit-free.
    scale = float(weight @ m) / n
    objective = _gamma_gamma_objective(x, m / scale, weight)
    optimum = _maximise("Gamma-Gamma", ("p", "q", "gamma"), objective, np.zeros(3))
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


def _check_units(params: BGNBDParams, summary: CustomerSummary) -> None:
    if params.time_unit != summary.time_unit:
        raise ValueError(
            f"parameters are in {params.time_unit}s but the summary is in {summary.time_unit}s"
        )


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


def _alive_expectation(
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


def _p_alive(params: BGNBDParams, summary: CustomerSummary) -> FloatArray:
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
    _check_units(params, summary)
    return _p_alive(params, summary)


def _expected_transactions(
    params: BGNBDParams, summary: CustomerSummary, t: FloatArray
) -> FloatArray:
    x = summary.frequency
    big_t = summary.T
    p_alive = _p_alive(params, summary)
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
        return _alive_expectation(params.r, params.alpha, a, params.b, x_l, t_l, tt_l)

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
    _check_units(params, summary)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"t must be finite and >= 0, got {t}")
    return _expected_transactions(params, summary, np.full(summary.n_customers, float(t)))


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
    _check_units(bgnbd, summary)
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
        cumulative = _expected_transactions(
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
