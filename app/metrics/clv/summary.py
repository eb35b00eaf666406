"""The per-customer RFM summary the fitters read, built from the SQL aggregate's rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from app.metrics.clv.utils import (
    DAYS_PER_UNIT,
    FloatArray,
    TimeUnit,
    as_float_array,
    check_time_unit,
)


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
        x = as_float_array("frequency", frequency)
        t_x = as_float_array("recency", recency)
        big_t = as_float_array("T", T)
        m = as_float_array("monetary", monetary)
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
        object.__setattr__(self, "time_unit", check_time_unit(time_unit))

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
    unit = check_time_unit(time_unit)
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
