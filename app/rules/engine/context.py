"""The per-event view rules read, the fact readers, and the value helpers that the closures,
the generated function and the effect makers share."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import (
    ROUND_FLOOR,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any, Final

from app.rules.facts import CustomerFacts, EventFacts, FactKind, FactSpec

# A private context keeps point arithmetic independent of whatever the thread's decimal
# context was set to elsewhere in the process, which determinism requires.
_DEC: Final[Context] = Context(
    prec=50, rounding=ROUND_FLOOR, traps=[InvalidOperation, DivisionByZero, Overflow]
)


class _Ctx:
    """Per-event view used by compiled closures; derived values are computed on first use,
    since most rules never look at the time."""

    __slots__ = ("_at", "_utc", "attributes", "customer", "data", "event")

    def __init__(self, event: EventFacts, customer: CustomerFacts) -> None:
        self.event = event
        self.customer = customer
        self.data = event.data
        self.attributes = event.attributes
        self._at: Any = None
        self._utc: datetime | None = None

    def at(self) -> Any:
        """occurred_at, with a naive value read as UTC."""
        at = self._at
        if at is None:
            at = self.event.occurred_at
            if isinstance(at, datetime) and at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            self._at = at
        return at

    def utc(self) -> datetime:
        u = self._utc
        if u is None:
            u = self._utc = self.at().astimezone(UTC)
        return u


Getter = Callable[[_Ctx], Any]


def _num(v: Any) -> Any:
    # Floats are read through their shortest repr so 49.99 equals the rule's Decimal('49.99');
    # non-finite floats stay floats and simply compare as such.
    if type(v) is float and math.isfinite(v):
        return Decimal(repr(v))
    return v


def _lookup(root: Any, keys: tuple[str, ...]) -> Any:
    value = root
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _static_getter(path: str) -> Getter | None:
    getters: dict[str, Getter] = {
        "event.type": lambda c: c.event.type,
        "event.channel": lambda c: c.event.channel,
        "event.occurred_at": lambda c: c.at(),
        "event.referred": lambda c: c.event.referred,
        "customer.purchase_count": lambda c: c.customer.purchase_count,
        "customer.lifetime_spend": lambda c: _num(c.customer.lifetime_spend),
        "customer.days_since_last_purchase": lambda c: c.customer.days_since_last_purchase,
        "customer.tier": lambda c: c.customer.tier,
        "customer.badges": lambda c: c.customer.badges,
        "customer.available_points": lambda c: c.customer.available_points,
        "customer.signup_date": lambda c: c.customer.signup_date,
        "customer.referral_count": lambda c: c.customer.referral_count,
        "customer.recency_days": lambda c: c.customer.recency_days,
        "customer.frequency": lambda c: c.customer.frequency,
        "customer.monetary": lambda c: _num(c.customer.monetary),
        "customer.rfm_score": lambda c: c.customer.rfm_score,
        "customer.probability_alive": lambda c: _num(c.customer.probability_alive),
        "customer.predicted_clv": lambda c: _num(c.customer.predicted_clv),
        "customer.last_nps": lambda c: c.customer.last_nps,
        "customer.last_csat": lambda c: c.customer.last_csat,
        "customer.segments": lambda c: c.customer.segments,
        "time.weekday": lambda c: c.utc().weekday(),
        "time.hour": lambda c: c.utc().hour,
    }
    return getters.get(path)


def _streak_getter(head: str, keys: list[str]) -> Getter:
    streak_id = keys[1]
    if head == "event":
        return lambda c: c.event.streaks.get(streak_id)
    index = 0 if keys[2] == "current" else 1

    def customer_streak(c: _Ctx) -> Any:
        values = c.customer.streaks.get(streak_id)
        return None if values is None else values[index]

    return customer_streak


_NUMERIC_KINDS: Final = frozenset({FactKind.NUMBER, FactKind.INTEGER, FactKind.ANY})


def make_getter(spec: FactSpec) -> Getter:
    """Build the reader for one fact; ``None`` from it means the fact is absent."""
    static = _static_getter(spec.path)
    if static is not None:
        return static
    head, _, rest = spec.path.partition(".")
    if rest.startswith("streaks."):
        return _streak_getter(head, rest.split("."))
    keys = tuple(rest.split("."))
    numeric = spec.kind in _NUMERIC_KINDS
    if len(keys) == 1:
        key = keys[0]
        if head == "data":
            if numeric:
                # The hottest reader (data.amount); _num is inlined to save a call per event.
                def data_number(c: _Ctx) -> Any:
                    v = c.data.get(key)
                    if type(v) is float and math.isfinite(v):
                        return Decimal(repr(v))
                    return v

                return data_number
            return lambda c: c.data.get(key)
        return lambda c: _num(_lookup(c.attributes, keys))
    if head == "data":
        return lambda c: _num(_lookup(c.data, keys))
    return lambda c: _num(_lookup(c.attributes, keys))


def _fmt(v: Any) -> str:
    """Render a value for explain reasons, JSON-like so it reads like the rule document."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float | Decimal):
        return str(v)
    if isinstance(v, str):
        text = v if len(v) <= 60 else v[:57] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, frozenset | set):
        return "[" + ", ".join(sorted(_fmt(x) for x in v)) + "]"
    if isinstance(v, list | tuple):
        inner = ", ".join(_fmt(x) for x in v[:10])
        return "[" + inner + (", ..." if len(v) > 10 else "") + "]"
    if isinstance(v, Mapping):
        return "{...}"
    return type(v).__name__


def _typename(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float | Decimal):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, datetime):
        return "datetime"
    if isinstance(v, date):
        return "date"
    if isinstance(v, list | tuple | set | frozenset):
        return "list"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__
