"""Tests of app.metrics.clv against published CDNOW results and independent integrals.

Reference values come from Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way"
(BG/NBD) and "RFM and CLV: Using Iso-Value Curves" (Gamma-Gamma), or from numerical
integration of the models' definitions written out here, never from the code under test.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats
from scipy.integrate import quad

from app.metrics import clv

CDNOW = Path(__file__).resolve().parent.parent / "data" / "cdnow_sample.txt"
CALIBRATION_END = date(1997, 9, 30)

# Published estimates (BG/NBD paper, section 5; iso-value paper, section on spend).
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PAPER = clv.BGNBDParams(time_unit="week", **PUBLISHED_BGNBD)
PAPER_SPEND = clv.GammaGammaParams(**PUBLISHED_GAMMA_GAMMA)


def cdnow_rows() -> list[tuple[str, date, date, int, Decimal]]:
    """The per-customer aggregate the service's SQL returns, built with plain Python."""
    by_day: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with CDNOW.open() as handle:
        for line in handle:
            _, customer, day, _, value = line.split()
            when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
            if when <= CALIBRATION_END:
                by_day[customer][when] += Decimal(value)
    rows = []
    for customer, days in by_day.items():
        ordered = sorted(days)
        repeat_value = sum((days[d] for d in ordered[1:]), Decimal(0))
        rows.append((customer, ordered[0], ordered[-1], len(ordered), repeat_value))
    return rows


@pytest.fixture(scope="module")
def cdnow() -> clv.CustomerSummary:
    return clv.summarize(cdnow_rows(), CALIBRATION_END, "week")


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow: clv.CustomerSummary) -> clv.BGNBDFit:
    return clv.fit_bgnbd(cdnow)


@pytest.fixture(scope="module")
def cdnow_gamma_gamma(cdnow: clv.CustomerSummary) -> clv.GammaGammaFit:
    return clv.fit_gamma_gamma(cdnow)


def one(
    x: float, t_x: float, big_t: float, m: float = 0.0, unit: clv.TimeUnit = "week"
) -> clv.CustomerSummary:
    return clv.CustomerSummary(("c",), [x], [t_x], [big_t], [m], unit)


def beta_integral(func: Callable[[float], float], a: float, b: float) -> float:
    """int_0^1 func(p) p^(a-1) (1-p)^(b-1) dp, with quad's algebraic-singularity weight."""
    value, _ = quad(func, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b - 1.0), epsabs=0, epsrel=1e-12)
    return float(value)


def reference(
    r: float, alpha: float, a: float, b: float, x: int, t_x: float, big_t: float, t: float
) -> tuple[float, float]:
    """(P(alive), E[Y(t)]) from the BG/NBD definition by integrating lambda and p out.

    Individual likelihood: (1-p)^x lam^x e^(-lam T) [alive] + p (1-p)^(x-1) lam^x e^(-lam t_x)
    [dropped after the last purchase, x > 0]. lambda ~ Gamma(r, alpha) integrates in closed
    form (Gamma(r+x) / (alpha+T)^(r+x) and so on); p ~ Beta(a, b) is integrated numerically.
    An alive customer with (lambda, p) makes (1 - exp(-lam p t)) / p purchases in t on
    average, and lambda | alive ~ Gamma(r + x, alpha + T) turns exp(-lam p t) into
    (1 + p t / (alpha + T))^-(r + x).
    """
    k = r + x
    big_a = alpha + big_t
    alive_mass = beta_integral(lambda p: 1.0, a, b + x)
    dead_mass = 0.0
    if x > 0:
        dead_mass = (
            beta_integral(lambda p: 1.0, a + 1.0, b + x - 1.0) * (big_a / (alpha + t_x)) ** k
        )
    p_alive = alive_mass / (alive_mass + dead_mass)

    def per_p(p: float) -> float:
        if p == 0.0:
            return k * t / big_a
        return -math.expm1(-k * math.log1p(p * t / big_a)) / p

    expected_if_alive = beta_integral(per_p, a, b + x) / alive_mass
    return p_alive, p_alive * expected_if_alive


# --- summarize --------------------------------------------------------------------------


def test_cdnow_summary_matches_published_data(cdnow: clv.CustomerSummary) -> None:
    assert cdnow.n_customers == 2357
    assert cdnow.n_repeat_customers == 946
    first = cdnow.customer_ids.index("0001")
    # The paper's worked example: bought 1997-01-01, 01-18 and 08-02 in the calibration period.
    assert cdnow.frequency[first] == 2
    assert cdnow.recency[first] == pytest.approx(213 / 7)
    assert round(float(cdnow.recency[first]), 2) == 30.43
    assert cdnow.T[first] == pytest.approx(272 / 7)
    assert round(float(cdnow.T[first]), 2) == 38.86
    assert cdnow.monetary[first] == pytest.approx((29.73 + 14.96) / 2)
    # Last cohort day, 1997-03-25: 6 + 30 + 31 + 30 + 31 + 31 + 30 days to 1997-09-30.
    assert cdnow.T.min() == pytest.approx(189 / 7)
    assert np.all(cdnow.monetary[cdnow.frequency == 0] == 0)


def test_summarize_days_and_field_conversions() -> None:
    rows = [
        ("a", date(2024, 1, 1), date(2024, 1, 11), 3, Decimal("30.00")),
        ("b", datetime(2024, 1, 5, 12, 30), datetime(2024, 1, 5, 18), 1, None),
        (7, date(2024, 1, 31), date(2024, 1, 31), 1, 0),
    ]
    summary = clv.summarize(rows, date(2024, 1, 31), "day")
    assert summary.customer_ids == ("a", "b", "7")
    assert summary.frequency.tolist() == [2, 0, 0]
    assert summary.recency.tolist() == [10, 0, 0]
    assert summary.T.tolist() == [30, 26, 0]
    assert summary.monetary.tolist() == [15, 0, 0]
    assert summary.time_unit == "day"
    weeks = clv.summarize(rows, date(2024, 1, 31), "week")
    assert weeks.T.tolist() == pytest.approx([30 / 7, 26 / 7, 0])


def test_summary_arrays_are_read_only(cdnow: clv.CustomerSummary) -> None:
    with pytest.raises(ValueError, match="read-only"):
        cdnow.frequency[0] = 5


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("a", date(2024, 1, 5), date(2024, 1, 1), 2, 1.0), "first_day <= last_day"),
        (("a", date(2024, 1, 1), date(2024, 2, 5), 2, 1.0), "observation_end"),
        (("a", date(2024, 1, 1), date(2024, 1, 3), 4, 1.0), "impossible"),
        (("a", date(2024, 1, 1), date(2024, 1, 3), 0, 0.0), "impossible"),
        (("a", date(2024, 1, 1), date(2024, 1, 3), 1, 0.0), "single purchase day"),
        (("a", date(2024, 1, 1), date(2024, 1, 1), 1, 5.0), "single purchase day"),
        (("a", date(2024, 1, 1), date(2024, 1, 5), 2, math.nan), "finite"),
        (("a", date(2024, 1, 1), date(2024, 1, 5)), "5 fields"),
    ],
)
def test_summarize_rejects_inconsistent_rows(row: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clv.summarize([row], date(2024, 1, 31))


def test_summarize_rejects_wrong_types_units_and_duplicates() -> None:
    good = ("a", date(2024, 1, 1), date(2024, 1, 1), 1, 0)
    with pytest.raises(TypeError):
        clv.summarize([("a", "2024-01-01", date(2024, 1, 1), 1, 0)], date(2024, 1, 31))
    with pytest.raises(TypeError):
        clv.summarize([("a", date(2024, 1, 1), date(2024, 1, 1), 1.0, 0)], date(2024, 1, 31))
    with pytest.raises(ValueError, match="time_unit"):
        clv.summarize([good], date(2024, 1, 31), "month")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        clv.summarize([good, good], date(2024, 1, 31))


def test_customer_summary_validates_arrays() -> None:
    with pytest.raises(ValueError, match="entries"):
        clv.CustomerSummary(("a", "b"), [1], [1], [2], [3], "week")
    with pytest.raises(ValueError, match="recency"):
        clv.CustomerSummary(("a",), [1], [3], [2], [3], "week")
    with pytest.raises(ValueError, match="frequency 0"):
        clv.CustomerSummary(("a",), [0], [1], [2], [0], "week")
    with pytest.raises(ValueError, match="whole numbers"):
        clv.CustomerSummary(("a",), [1.5], [1], [2], [3], "week")
    with pytest.raises(ValueError, match="NaN"):
        clv.CustomerSummary(("a",), [1], [1], [math.inf], [3], "week")


# --- fits on CDNOW -----------------------------------------------------------------------


def test_cdnow_bgnbd_matches_published_estimates(cdnow_bgnbd: clv.BGNBDFit) -> None:
    params = cdnow_bgnbd.params
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(params, name) == pytest.approx(published, rel=0.01), name
    assert cdnow_bgnbd.log_likelihood == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.1)
    assert cdnow_bgnbd.converged
    assert cdnow_bgnbd.n_customers == 2357
    assert params.time_unit == "week"


def test_cdnow_gamma_gamma_matches_published_estimates(
    cdnow_gamma_gamma: clv.GammaGammaFit,
) -> None:
    params = cdnow_gamma_gamma.params
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert getattr(params, name) == pytest.approx(published, rel=0.01), name
    assert cdnow_gamma_gamma.converged
    assert cdnow_gamma_gamma.n_customers == 946
    assert math.isfinite(cdnow_gamma_gamma.log_likelihood)


def test_fit_does_not_depend_on_time_unit(cdnow_bgnbd: clv.BGNBDFit) -> None:
    in_days = clv.summarize(cdnow_rows(), CALIBRATION_END, "day")
    fit = clv.fit_bgnbd(in_days)
    weekly = cdnow_bgnbd.params
    assert fit.params.alpha == pytest.approx(7 * weekly.alpha, rel=1e-5)
    for name in ("r", "a", "b"):
        assert getattr(fit.params, name) == pytest.approx(getattr(weekly, name), rel=1e-5)
    # Only the recency densities change with the unit: by log(7) per repeat transaction.
    shift = float(in_days.frequency.sum()) * math.log(7)
    assert fit.log_likelihood == pytest.approx(cdnow_bgnbd.log_likelihood - shift, abs=1e-4)


# --- predictions against the paper and independent integrals ---------------------------------


def test_paper_example_expected_transactions() -> None:
    # Paper: about 1.226 repeat transactions in weeks 40-78 for x=2, t_x=30.43, T=38.86.
    customer = one(2, 30.43, 38.86)
    value = float(clv.expected_transactions(PAPER, customer, 39.0)[0])
    assert value == pytest.approx(1.226, abs=5e-4)
    _, expected = reference(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39.0)
    assert value == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(
    ("r", "alpha", "a", "b", "x", "t_x", "big_t", "t"),
    [
        (0.243, 4.414, 0.793, 2.426, 0, 0.0, 38.86, 39.0),
        (0.243, 4.414, 0.793, 2.426, 1, 2.0, 30.0, 52.0),
        (0.243, 4.414, 0.793, 2.426, 7, 35.0, 36.0, 12.0),
        (0.243, 4.414, 0.793, 2.426, 3, 0.5, 38.0, 0.25),
        # a + b < 1: the x == 0 branch cannot use scipy's 2F1 directly.
        (1.5, 20.0, 0.3, 0.4, 0, 0.0, 100.0, 365.0),
        (1.5, 20.0, 0.3, 0.4, 1, 40.0, 100.0, 365.0),
        # a next to 1, where eq. 10's 1 / (a - 1) is a removable singularity.
        (0.8, 10.0, 1.0 + 3e-7, 3.0, 0, 0.0, 50.0, 30.0),
        (0.8, 10.0, 1.0 - 3e-7, 3.0, 4, 20.0, 50.0, 30.0),
        (0.8, 10.0, 1.0 + 2e-3, 3.0, 4, 20.0, 50.0, 30.0),
        # Heavy buyer, long horizon, day units.
        (2.0, 15.0, 2.5, 40.0, 150, 700.0, 730.0, 365.0),
        # Customer first seen on the observation day.
        (0.5, 3.0, 1.2, 4.0, 0, 0.0, 0.0, 10.0),
    ],
)
def test_expected_transactions_and_p_alive_match_integrals(
    r: float, alpha: float, a: float, b: float, x: int, t_x: float, big_t: float, t: float
) -> None:
    params = clv.BGNBDParams(r=r, alpha=alpha, a=a, b=b, time_unit="day")
    customer = one(x, t_x, big_t, unit="day")
    p_alive, expected = reference(r, alpha, a, b, x, t_x, big_t, t)
    assert float(clv.probability_alive(params, customer)[0]) == pytest.approx(p_alive, rel=1e-9)
    value = float(clv.expected_transactions(params, customer, t)[0])
    assert value == pytest.approx(expected, rel=1e-6)


def test_probability_alive_convention_and_range(cdnow: clv.CustomerSummary) -> None:
    p_alive = clv.probability_alive(PAPER, cdnow)
    assert np.all(p_alive[cdnow.frequency == 0] == 1.0)
    assert np.all((p_alive > 0) & (p_alive <= 1))
    # x = 2, t_x = 30.43, T = 38.86 by hand: 1 / (1 + a/(b+1) ((alpha+T)/(alpha+t_x))^(r+2)).
    by_hand = 1 / (1 + 0.793 / 3.426 * ((4.414 + 38.86) / (4.414 + 30.43)) ** 2.243)
    assert float(clv.probability_alive(PAPER, one(2, 30.43, 38.86))[0]) == pytest.approx(by_hand)


def test_extreme_parameters_use_a_fallback_that_still_matches() -> None:
    # a and b this large defeat scipy's 2F1; p ~ Beta(a, b + x) is then very concentrated, so
    # scipy.stats' own Beta expectation is an independent reference for E[Y | alive].
    r, alpha, a, b, x, t_x, big_t, t = 3.0, 30.0, 2000.0, 6000.0, 3, 20.0, 40.0, 60.0
    params = clv.BGNBDParams(r=r, alpha=alpha, a=a, b=b, time_unit="day")
    customer = one(x, t_x, big_t, unit="day")
    k, s = r + x, t / (alpha + big_t)
    dist = stats.beta(a, b + x)
    if_alive = dist.expect(
        lambda p: -math.expm1(-k * math.log1p(p * s)) / p,
        lb=0.0,
        ub=1.0,
        points=[dist.mean()],
        epsabs=0,
        epsrel=1e-12,
    )
    log_odds = math.log(a / (b + x - 1)) + k * math.log((alpha + big_t) / (alpha + t_x))
    p_alive = 1 / (1 + math.exp(log_odds))
    value = float(clv.expected_transactions(params, customer, t)[0])
    assert value == pytest.approx(p_alive * if_alive, rel=1e-7)


def test_expected_transactions_is_zero_at_zero_and_increasing(
    cdnow: clv.CustomerSummary,
) -> None:
    assert np.all(clv.expected_transactions(PAPER, cdnow, 0.0) == 0)
    previous = np.zeros(cdnow.n_customers)
    for weeks in (1.0, 13.0, 52.0, 520.0, 5200.0):
        current = clv.expected_transactions(PAPER, cdnow, weeks)
        assert np.all(np.isfinite(current))
        assert np.all(current >= previous)
        previous = current


def test_expected_average_spend_matches_posterior_integral() -> None:
    p, q, gamma = 6.25, 3.74, 15.44
    summary = clv.CustomerSummary(
        ("a", "b", "c"), [0, 1, 4], [0, 3, 20], [30, 30, 30], [0, 20.0, 52.5], "week"
    )
    spend = clv.expected_average_spend(PAPER_SPEND, summary)
    # Transaction values are Gamma(p, nu), mean p / nu; after x values with mean m,
    # nu ~ Gamma(q + p x, rate gamma + x m), so E[p / nu] is a one-dimensional integral.
    for i, (x, m) in enumerate([(0, 0.0), (1, 20.0), (4, 52.5)]):
        posterior = stats.gamma(q + p * x, scale=1 / (gamma + x * m))
        expected = posterior.expect(lambda nu: p / nu, epsabs=0, epsrel=1e-12)
        assert float(spend[i]) == pytest.approx(expected, rel=1e-8)
    assert float(spend[0]) == pytest.approx(PAPER_SPEND.population_mean_spend)


def test_expected_spend_treats_refunds_as_zero_spend() -> None:
    summary = one(2, 5, 10, m=-4.0)
    expected = 6.25 * 15.44 / (6.25 * 2 + 3.74 - 1)
    assert float(clv.expected_average_spend(PAPER_SPEND, summary)[0]) == pytest.approx(expected)


def test_expected_spend_needs_finite_mean() -> None:
    with pytest.raises(ValueError, match="q <= 1"):
        clv.expected_average_spend(clv.GammaGammaParams(p=2, q=0.9, gamma=3), one(1, 1, 2, 5))


# --- CLV ---------------------------------------------------------------------------------


def test_monthly_discount_rate() -> None:
    assert clv.monthly_discount_rate(0.10) == pytest.approx(1.1 ** (1 / 12) - 1)
    assert clv.monthly_discount_rate(0.0) == 0.0
    with pytest.raises(ValueError, match="> -1"):
        clv.monthly_discount_rate(-1.0)


def test_clv_matches_hand_computed_discounted_sum() -> None:
    x, t_x, big_t, m = 2, 30.43, 38.86, 24.0
    customer = one(x, t_x, big_t, m)
    spend = 6.25 * (15.44 + x * m) / (6.25 * x + 3.74 - 1)
    weeks_per_month = 365.25 / 12 / 7
    monthly = 1.08 ** (1 / 12) - 1
    total, previous = 0.0, 0.0
    for month in range(1, 13):
        _, cumulative = reference(
            0.243, 4.414, 0.793, 2.426, x, t_x, big_t, month * weeks_per_month
        )
        total += (cumulative - previous) / (1 + monthly) ** month
        previous = cumulative
    value = clv.customer_lifetime_value(
        PAPER, PAPER_SPEND, customer, horizon_months=12, annual_discount_rate=0.08, margin=0.3
    )
    assert float(value[0]) == pytest.approx(0.3 * spend * total, rel=1e-6)


def test_undiscounted_clv_is_spend_times_expected_transactions(
    cdnow: clv.CustomerSummary,
) -> None:
    horizon_weeks = 24 * 365.25 / 12 / 7
    plain = clv.customer_lifetime_value(
        PAPER, PAPER_SPEND, cdnow, horizon_months=24, annual_discount_rate=0.0
    )
    expected = clv.expected_average_spend(PAPER_SPEND, cdnow) * clv.expected_transactions(
        PAPER, cdnow, horizon_weeks
    )
    np.testing.assert_allclose(plain, expected, rtol=1e-9, atol=1e-12)
    discounted = clv.customer_lifetime_value(
        PAPER, PAPER_SPEND, cdnow, horizon_months=24, annual_discount_rate=0.15, margin=2.0
    )
    assert np.all(discounted <= 2.0 * plain + 1e-12)
    assert np.all(discounted > 0)
    assert np.all(clv.customer_lifetime_value(PAPER, PAPER_SPEND, cdnow, horizon_months=0) == 0)


def test_clv_rejects_bad_arguments() -> None:
    customer = one(1, 1, 2, 5)
    with pytest.raises(ValueError, match="horizon"):
        clv.customer_lifetime_value(PAPER, PAPER_SPEND, customer, horizon_months=-1)
    with pytest.raises(ValueError, match="margin"):
        clv.customer_lifetime_value(PAPER, PAPER_SPEND, customer, margin=math.nan)
    with pytest.raises(ValueError, match="weeks but the summary is in days"):
        clv.customer_lifetime_value(PAPER, PAPER_SPEND, one(1, 1, 2, 5, unit="day"))
    with pytest.raises(ValueError, match="t must be"):
        clv.expected_transactions(PAPER, customer, -1.0)


def test_predict_on_cdnow(
    cdnow: clv.CustomerSummary,
    cdnow_bgnbd: clv.BGNBDFit,
    cdnow_gamma_gamma: clv.GammaGammaFit,
) -> None:
    result = clv.predict(
        cdnow_bgnbd.params, cdnow_gamma_gamma.params, cdnow, horizon_months=12, margin=0.25
    )
    assert result.customer_ids == cdnow.customer_ids
    for values in (result.expected_transactions, result.expected_spend, result.clv):
        assert values.shape == (cdnow.n_customers,)
        assert np.all(np.isfinite(values))
        assert np.all(values > 0)
    assert np.all((result.probability_alive > 0) & (result.probability_alive <= 1))
    single = clv.customer_lifetime_value(
        cdnow_bgnbd.params, cdnow_gamma_gamma.params, cdnow, horizon_months=12, margin=0.25
    )
    np.testing.assert_array_equal(result.clv, single)


# --- too little data and degenerate data ------------------------------------------------------


def summary_of(
    x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike, m: npt.ArrayLike
) -> clv.CustomerSummary:
    ids = tuple(str(i) for i in range(np.size(x)))
    return clv.CustomerSummary(ids, x, t_x, big_t, m, "week")


def test_too_few_customers() -> None:
    with pytest.raises(clv.InsufficientData) as info:
        clv.fit_bgnbd(summary_of([1, 2, 0], [3, 4, 0], [10, 10, 10], [5, 5, 0]))
    assert (info.value.needed, info.value.got) == (clv.MIN_CUSTOMERS, 3)
    with pytest.raises(clv.InsufficientData):
        clv.fit_bgnbd(clv.summarize([], CALIBRATION_END))


def test_too_few_repeat_buyers() -> None:
    x = [1, 3] + [0] * 18
    summary = summary_of(x, [2, 5] + [0] * 18, [10] * 20, [4, 6] + [0] * 18)
    with pytest.raises(clv.InsufficientData) as info:
        clv.fit_bgnbd(summary)
    assert (info.value.needed, info.value.got) == (clv.MIN_REPEAT_CUSTOMERS, 2)
    with pytest.raises(clv.InsufficientData) as info:
        clv.fit_gamma_gamma(summary)
    assert (info.value.needed, info.value.got) == (clv.MIN_SPEND_CUSTOMERS, 2)
    assert "need at least 5" in str(info.value)


def test_nobody_came_back() -> None:
    summary = summary_of([0] * 50, [0] * 50, list(np.linspace(0, 30, 50)), [0] * 50)
    with pytest.raises(clv.InsufficientData):
        clv.fit_bgnbd(summary)
    with pytest.raises(clv.InsufficientData):
        clv.fit_gamma_gamma(summary)
    # Predictions for such customers still exist and are finite.
    result = clv.predict(PAPER, PAPER_SPEND, summary)
    assert np.all(result.probability_alive == 1)
    assert np.all(np.isfinite(result.clv))
    assert np.all(result.clv >= 0)


def test_refunds_only_do_not_count_for_gamma_gamma() -> None:
    x = [1] * 10
    summary = summary_of(x, [1] * 10, [5] * 10, [-3.0] * 8 + [4.0, 6.0])
    with pytest.raises(clv.InsufficientData) as info:
        clv.fit_gamma_gamma(summary)
    assert info.value.got == 2


def test_identical_spend_is_reported_not_fitted() -> None:
    # No spread in spend between customers: q and gamma run off to infinity together.
    summary = summary_of([1, 2, 3, 4, 5] * 4, [1, 2, 3, 4, 5] * 4, [6] * 20, [10.0] * 20)
    with pytest.raises(clv.FitFailed) as info:
        clv.fit_gamma_gamma(summary)
    assert info.value.model == "Gamma-Gamma"


def test_degenerate_small_data_never_yields_nan() -> None:
    rng = np.random.default_rng(20240601)
    bg = clv.BGNBDParams(r=0.5, alpha=2.0, a=0.9, b=0.2, time_unit="week")
    outcomes: set[str] = set()
    for seed in range(16):
        base = simulate(int(rng.integers(10, 300)), seed=seed)
        x, t_x, big_t = base.frequency, base.recency.copy(), base.T.copy()
        variant = seed % 4
        if variant == 1:  # everybody acquired on the same day
            big_t[:] = big_t.max()
        elif variant == 2:  # every repeat buyer bought on the last day
            t_x = np.where(x > 0, big_t, 0.0)
        elif variant == 3:  # repeat purchases all right after the first one
            t_x = np.where(x > 0, np.minimum(big_t, 1e-3), 0.0)
        summary = summary_of(list(x), list(t_x), list(big_t), list(base.monetary))
        for fit in (clv.fit_bgnbd, clv.fit_gamma_gamma):
            try:
                result = fit(summary)
            except clv.ClvError as error:
                outcomes.add(type(error).__name__)
                continue
            outcomes.add("fitted")
            values = [v for v in vars(result.params).values() if isinstance(v, float)]
            assert all(math.isfinite(v) and v > 0 for v in values)
            assert math.isfinite(result.log_likelihood)
        predictions = clv.predict(bg, PAPER_SPEND, summary, horizon_months=36)
        for values_array in (
            predictions.expected_transactions,
            predictions.probability_alive,
            predictions.expected_spend,
            predictions.clv,
        ):
            assert np.all(np.isfinite(values_array))
    assert "fitted" in outcomes
    assert outcomes <= {"fitted", "FitFailed", "InsufficientData"}


def test_parameters_must_be_positive() -> None:
    with pytest.raises(ValueError, match="r must be positive"):
        clv.BGNBDParams(r=0.0, alpha=1.0, a=1.0, b=1.0, time_unit="week")
    with pytest.raises(ValueError, match="q must be positive"):
        clv.GammaGammaParams(p=1.0, q=math.nan, gamma=1.0)


# --- simulated data ------------------------------------------------------------------------


def simulate(n: int, seed: int) -> clv.CustomerSummary:
    """Draw customers from BG/NBD + Gamma-Gamma with known parameters, in continuous time."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.5, 1 / 5.0, n)
    dropout = rng.beta(1.2, 3.0, n)
    nu = rng.gamma(4.0, 1 / 20.0, n)
    big_t = rng.uniform(1, 80, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    total = np.zeros(n)
    clock = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while np.any(active):
        idx = np.flatnonzero(active)
        clock[idx] += rng.exponential(1 / lam[idx])
        bought = clock[idx] <= big_t[idx]
        buyers = idx[bought]
        x[buyers] += 1
        t_x[buyers] = clock[buyers]
        total[buyers] += rng.gamma(3.0, 1 / nu[buyers])
        active[idx[~bought]] = False
        active[buyers[rng.random(buyers.size) < dropout[buyers]]] = False
    m = np.where(x > 0, total / np.maximum(x, 1), 0.0)
    return summary_of(list(x), list(t_x), list(big_t), list(m))


def test_simulated_parameters_are_recovered() -> None:
    summary = simulate(40_000, seed=7)
    bg = clv.fit_bgnbd(summary).params
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx((0.5, 5.0, 1.2, 3.0), rel=0.12)
    gg = clv.fit_gamma_gamma(summary).params
    assert (gg.p, gg.q, gg.gamma) == pytest.approx((3.0, 4.0, 20.0), rel=0.12)
