"""What the fitters share: units, minimum data, errors, and the boxed maximum-likelihood
optimiser over log-parameters."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

FloatArray = npt.NDArray[np.float64]
TimeUnit = Literal["day", "week"]

DAYS_PER_UNIT: Final[dict[str, float]] = {"day": 1.0, "week": 7.0}
# A calendar-average month, so that a 12-month horizon is exactly one average year.
DAYS_PER_MONTH: Final[float] = 365.25 / 12.0

MIN_CUSTOMERS: Final[int] = 10
MIN_REPEAT_CUSTOMERS: Final[int] = 5
MIN_SPEND_CUSTOMERS: Final[int] = 5

# The optimiser works on log-parameters (after rescaling time and money to O(1)) boxed to
# +-LOG_BOX, so a likelihood that keeps rising towards a degenerate limit stops instead of
# overflowing; an estimate beyond +-LOG_LIMIT (a factor of about 22,000 either way) is
# such a drift, or too extreme to predict from, and is reported as a failed fit.
LOG_BOX: Final[float] = 12.0
LOG_LIMIT: Final[float] = 10.0
# L-BFGS-B can stop with "abnormal termination in line search" when it is already at the
# optimum and float noise hides further progress; a tiny gradient of the mean log-likelihood
# is accepted as convergence then.
GRAD_TOL: Final[float] = 1e-5


class ClvError(Exception):
    """Base class of the errors the fitters raise on purpose."""


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


def as_float_array(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    arr.setflags(write=False)
    return arr


def check_time_unit(time_unit: str) -> TimeUnit:
    if time_unit == "day":
        return "day"
    if time_unit == "week":
        return "week"
    raise ValueError(f"time_unit must be 'day' or 'week', got {time_unit!r}")


def check_positive(model: str, **values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{model} parameter {name} must be positive and finite, got {value}")


Objective = Callable[[FloatArray], tuple[float, FloatArray]]


@dataclass(frozen=True)
class Optimum:
    theta: FloatArray
    converged: bool
    iterations: int
    message: str


def maximise(
    model: str, names: tuple[str, ...], objective: Objective, start: FloatArray
) -> Optimum:
    """Minimise a mean negative log-likelihood over boxed log-parameters."""
    with np.errstate(all="ignore"):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOX, LOG_BOX)] * start.size,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        theta = np.asarray(result.x, dtype=np.float64)
        value, grad = objective(theta)
    if not (math.isfinite(value) and np.all(np.isfinite(theta)) and np.all(np.isfinite(grad))):
        raise FitFailed(model, "the log-likelihood is not finite at the optimiser's result")
    drifted = [name for name, value in zip(names, theta, strict=True) if abs(value) > LOG_LIMIT]
    if drifted:
        raise FitFailed(
            model,
            f"{', '.join(drifted)} ran to the edge of the parameter range; the data do not "
            "identify the model (too few customers, or no visible heterogeneity or dropout)",
        )
    converged = bool(result.success) or float(np.max(np.abs(grad))) <= GRAD_TOL
    return Optimum(theta, converged, int(result.nit), str(result.message))


def by_value(values: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct values and the index of each element's value among them."""
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.reshape(-1)


def compress(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
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
