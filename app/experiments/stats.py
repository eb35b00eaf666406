"""Experiment statistics, apart from storage and queries (as GrowthBook's gbstats keeps
them): pure functions of per-customer values, on scipy.stats.

- Proportions: the two-proportion z-test, pooled for the p-value, unpooled for the 95%
  interval of the difference.
- Means: Welch's t-test (``ttest_ind(equal_var=False)``) for the p-value; the interval is
  the difference ± t(0.975, Welch-Satterthwaite df) * its standard error.
- CUPED: over the control and the variant together, theta = cov(x, y) / var(x) (sample
  moments), and each customer's y - theta (x - mean x) goes through the same Welch test.
- Sample-ratio mismatch: the chi-square of the exposed counts against the weights.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import stats

LEVEL: Final = 0.95


@dataclass(frozen=True)
class Comparison:
    value: float | None
    difference: float | None = None
    relative_difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _relative(difference: float, control: float) -> float | None:
    return None if control == 0 else difference / control


def proportions(control: tuple[int, int], variant: tuple[int, int]) -> Comparison:
    """``(successes, customers)`` of each arm."""
    (x_c, n_c), (x_v, n_v) = control, variant
    if n_v == 0:
        return Comparison(None)
    p_v = x_v / n_v
    if n_c == 0:
        return Comparison(p_v)
    p_c = x_c / n_c
    difference = p_v - p_c
    pooled = (x_c + x_v) / (n_c + n_v)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_v))
    p_value = None
    if se_pooled > 0:
        p_value = float(2 * stats.norm.sf(abs(difference / se_pooled)))
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_v * (1 - p_v) / n_v)
    z = float(stats.norm.ppf(0.5 + LEVEL / 2))
    return Comparison(
        p_v, difference, _relative(difference, p_c), difference - z * se, difference + z * se,
        p_value,
    )  # fmt: skip


def means(control: Sequence[float], variant: Sequence[float]) -> Comparison:
    a, b = np.asarray(control, dtype=float), np.asarray(variant, dtype=float)
    if len(b) == 0:
        return Comparison(None)
    mean_b = float(b.mean())
    if len(a) == 0:
        return Comparison(mean_b)
    mean_a = float(a.mean())
    difference = mean_b - mean_a
    relative = _relative(difference, mean_a)
    if len(a) < 2 or len(b) < 2:
        return Comparison(mean_b, difference, relative)
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Comparison(mean_b, difference, relative)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = float(stats.t.ppf(0.5 + LEVEL / 2, df))
    p_value = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    return Comparison(
        mean_b, difference, relative, difference - t * se, difference + t * se, _finite(p_value)
    )


def cuped(
    control: tuple[Sequence[float], Sequence[float]],
    variant: tuple[Sequence[float], Sequence[float]],
) -> Comparison:
    """``(y, x)`` of each arm, customer by customer."""
    y = np.concatenate([np.asarray(control[0], float), np.asarray(variant[0], float)])
    x = np.concatenate([np.asarray(control[1], float), np.asarray(variant[1], float)])
    theta = 0.0
    if len(x) >= 2:
        var_x = float(x.var(ddof=1))
        if var_x > 0:
            theta = float(np.cov(x, y, ddof=1)[0, 1]) / var_x
    centre = float(x.mean()) if len(x) else 0.0

    def adjusted(arm: tuple[Sequence[float], Sequence[float]]) -> list[float]:
        ys, xs = np.asarray(arm[0], float), np.asarray(arm[1], float)
        return list(ys - theta * (xs - centre))

    return means(adjusted(control), adjusted(variant))


def sample_ratio(counts: Sequence[int], weights: Sequence[int]) -> float | None:
    total = sum(counts)
    if total == 0:
        return None
    expected = [total * w / sum(weights) for w in weights]
    return _finite(float(stats.chisquare(counts, f_exp=expected).pvalue))
