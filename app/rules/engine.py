"""Compile rule documents into closures once, then score events with a pure function.

``evaluate`` depends only on its arguments, which is what makes dry runs, backtests and A/B
variants cheap: the database layer gathers the facts and limit usage, calls ``evaluate``, and
then consumes limits atomically (dropping an effect whose limit it lost in a race).

Guarantees: ``evaluate`` is deterministic and never raises for a validated ruleset. A rule that
fails at evaluation time (a value of the wrong type, a missing amount to award on) is skipped
and reported in ``Outcome.errors``; the other rules still run.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import (
    ROUND_FLOOR,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any, Final, Literal, NamedTuple

from app.rules.facts import (
    NO_USAGE,
    CustomerFacts,
    EventFacts,
    FactKind,
    FactSpec,
    LimitUsage,
    resolve_fact,
)
from app.rules.schemas import (
    AllCondition,
    AnyCondition,
    AwardBadgeAction,
    AwardPointsAction,
    Comparison,
    ConditionNode,
    GrantPerkAction,
    Limits,
    MultiplyPointsAction,
    NotCondition,
    NotifyAction,
    Period,
    RuleDocument,
    SetTierAction,
    TierLadder,
    TierThreshold,
    normalize_operand,
)
from app.schemas import MAX_AWARD_POINTS, MAX_EVENT_POINTS

ActionName = Literal[
    "award_points", "multiply_points", "award_badge", "set_tier", "grant_perk", "notify"
]

# A private context keeps point arithmetic independent of whatever the thread's decimal
# context was set to elsewhere in the process, which determinism requires.
_DEC: Final[Context] = Context(
    prec=50, rounding=ROUND_FLOOR, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_MAX_MESSAGE: Final[int] = 300


# --------------------------------------------------------------------------- results


class Effect(NamedTuple):
    """One consequence of one rule firing, to be written to the ledger as is.

    ``points`` is set for award_points (the base award) and multiply_points (the extra points
    that multiplier added); ``factor`` is the
    multiplier's factor. A named tuple rather than a frozen dataclass: it is immutable, so
    compiled rules can hand out the same instance every time, and it is several times cheaper
    to build on the hot path.
    """

    rule_id: str
    rule_name: str
    action: ActionName
    points: int | None = None
    badge: str | None = None
    tier: str | None = None
    perk: str | None = None
    perk_expires_at: datetime | None = None
    notification: str | None = None
    template: str | None = None
    factor: Decimal | None = None


class SkippedRule(NamedTuple):
    """A rule that was considered for the event but did not fire, and why (explain mode)."""

    rule_id: str
    rule_name: str
    reason: str


class RuleError(NamedTuple):
    """A rule that raised while being evaluated; it was skipped, the event was not failed."""

    rule_id: str
    message: str


@dataclass(slots=True)
class Outcome:
    """What an event earns under one ruleset version.

    ``fired`` lists the ids of the rules that fired, in evaluation order, including rules whose
    effects all came to zero points: those are the firings to count against per-customer limits.
    ``unsettled`` is what ``effects`` was before multipliers were settled (multiply_points
    effects carrying only their factor; possibly the very same list when nothing multiplied),
    from which ``settle_without`` settles them again when the database drops a rule.
    """

    effects: list[Effect]
    ruleset_version: int
    skipped: list[SkippedRule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    unsettled: list[Effect] = field(default_factory=list, compare=False, repr=False)

    @property
    def points(self) -> int:
        """Net points of all effects."""
        return sum(e.points for e in self.effects if e.points is not None)


class RuleRuntimeError(Exception):
    """Raised inside a rule's closures for data the rule cannot work with."""


# --------------------------------------------------------------------------- evaluation context


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
Predicate = Callable[[_Ctx], bool]
Explainer = Callable[[_Ctx], tuple[bool, str]]


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
        "customer.purchase_count": lambda c: c.customer.purchase_count,
        "customer.lifetime_spend": lambda c: _num(c.customer.lifetime_spend),
        "customer.days_since_last_purchase": lambda c: c.customer.days_since_last_purchase,
        "customer.tier": lambda c: c.customer.tier,
        "customer.badges": lambda c: c.customer.badges,
        "customer.available_points": lambda c: c.customer.available_points,
        "customer.signup_date": lambda c: c.customer.signup_date,
        "customer.referral_count": lambda c: c.customer.referral_count,
        "time.weekday": lambda c: c.utc().weekday(),
        "time.hour": lambda c: c.utc().hour,
    }
    return getters.get(path)


_NUMERIC_KINDS: Final = frozenset({FactKind.NUMBER, FactKind.INTEGER, FactKind.ANY})


def make_getter(spec: FactSpec) -> Getter:
    """Build the reader for one fact; ``None`` from it means the fact is absent."""
    static = _static_getter(spec.path)
    if static is not None:
        return static
    head, _, rest = spec.path.partition(".")
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


# --------------------------------------------------------------------------- formatting


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


# --------------------------------------------------------------------------- conditions


_LIST_TYPES: Final = (list, tuple, set, frozenset)


def _loose_eq(a: Any, b: Any) -> bool:
    # Untyped facts come from arbitrary JSON, where true must not equal 1.
    if (type(a) is bool) is not (type(b) is bool):
        return False
    return bool(a == b)


def _loose_in(v: Any, values: tuple[Any, ...]) -> bool:
    return any(_loose_eq(v, x) for x in values)


def _test_for(spec: FactSpec, op: str, value: Any) -> Callable[[Any], bool]:
    """The comparison applied to a present (non-null) fact value."""
    kind = spec.kind
    path = spec.path

    def mismatch(v: Any) -> RuleRuntimeError:
        return RuleRuntimeError(
            f"cannot evaluate {path} {op} {_fmt(value)}: the fact is a {_typename(v)} "
            f"(value {_fmt(v)})"
        )

    def ordered(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
        def test(v: Any) -> bool:
            try:
                return check(v)
            except (TypeError, InvalidOperation):
                raise mismatch(v) from None

        return test

    if op == "eq" or op == "ne":
        want = op == "eq"
        if kind is FactKind.ANY:
            return lambda v: _loose_eq(v, value) is want
        return lambda v: (v == value) is want
    if op == "gt":
        return ordered(lambda v: bool(v > value))
    if op == "gte":
        return ordered(lambda v: bool(v >= value))
    if op == "lt":
        return ordered(lambda v: bool(v < value))
    if op == "lte":
        return ordered(lambda v: bool(v <= value))
    if op == "between":
        lo, hi = value
        return ordered(lambda v: bool(lo <= v <= hi))
    if op == "in" or op == "not_in":
        want = op == "in"
        values: tuple[Any, ...] = value
        if kind is FactKind.STRING_LIST:
            wanted = frozenset(values)

            def list_test(v: Any) -> bool:
                if isinstance(v, str) or not isinstance(v, _LIST_TYPES):
                    raise mismatch(v)
                return wanted.isdisjoint(v) is not want

            return list_test
        if kind is FactKind.ANY:

            def any_test(v: Any) -> bool:
                if isinstance(v, _LIST_TYPES):
                    hit = any(_loose_in(x, values) for x in v)
                else:
                    hit = _loose_in(v, values)
                return hit is want

            return any_test
        members = frozenset(values)

        def member_test(v: Any) -> bool:
            try:
                return (v in members) is want
            except TypeError:
                raise mismatch(v) from None

        return member_test
    if op == "contains":
        if kind is FactKind.ANY:

            def any_contains(v: Any) -> bool:
                if isinstance(v, str) and isinstance(value, str):
                    return value in v
                if isinstance(v, _LIST_TYPES):
                    return any(_loose_eq(x, value) for x in v)
                raise mismatch(v)

            return any_contains

        def contains(v: Any) -> bool:
            if isinstance(v, str) and kind is FactKind.STRING:
                return bool(value in v)
            if isinstance(v, _LIST_TYPES) and kind is FactKind.STRING_LIST:
                return value in v
            raise mismatch(v)

        return contains
    raise ValueError(f"unsupported operator {op!r}")  # schema validation makes this unreachable


def _compile_comparison(cmp: Comparison, types: Sequence[str]) -> tuple[Predicate, Explainer]:
    spec = resolve_fact(cmp.fact, types)
    if spec is None:
        raise ValueError(f"unknown fact {cmp.fact!r}")
    value = normalize_operand(spec, cmp.op, cmp.value)
    get = make_getter(spec)
    label = f"{cmp.fact} {cmp.op} {_fmt(cmp.value)}"

    if cmp.op == "exists":
        want: bool = value

        def exists(c: _Ctx) -> bool:
            return (get(c) is not None) is want

        def explain_exists(c: _Ctx) -> tuple[bool, str]:
            v = get(c)
            ok = (v is not None) is want
            seen = "missing" if v is None else f"value {_fmt(v)}"
            return ok, f"{label} was {'true' if ok else 'false'} ({seen})"

        return exists, explain_exists

    test = _test_for(spec, cmp.op, value)
    predicate = _fused(get, spec, cmp.op, value, test)

    def explain(c: _Ctx) -> tuple[bool, str]:
        v = get(c)
        if v is None:
            return False, f"{label} was false (missing)"
        ok = test(v)
        return ok, f"{label} was {'true' if ok else 'false'} (value {_fmt(v)})"

    return predicate, explain


def _fused(
    get: Getter, spec: FactSpec, op: str, value: Any, test: Callable[[Any], bool]
) -> Predicate:
    """The fast predicate: for the common operators on typed facts, read and compare in one
    closure instead of chaining reader and test (a third of the calls per comparison)."""
    if op == "contains" and spec.kind is not FactKind.ANY:
        # Exact type checks keep the fast path to the shapes the catalogue promises; anything
        # else goes through test(), which handles subclasses or raises the descriptive error.
        shape = str if spec.kind is FactKind.STRING else frozenset

        def contains(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            if type(v) is shape:
                return value in v
            return test(v)

        return contains
    if spec.kind is FactKind.ANY or spec.kind is FactKind.STRING_LIST or op not in _FUSABLE:

        def chained(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            return test(v)

        return chained
    if op == "eq":
        return lambda c: (v := get(c)) is not None and v == value
    if op == "ne":
        return lambda c: (v := get(c)) is not None and v != value
    if op == "in" or op == "not_in":
        members = frozenset(value)
        want = op == "in"

        def member(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            try:
                return (v in members) is want
            except TypeError:
                return test(v)  # raises the descriptive error

        return member
    # One closure per operator so the comparison itself is inline bytecode, not a call.
    # Rich comparisons on the kinds accepted here return real bools; `is True` says so to mypy.
    if op == "gt":

        def gt(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            try:
                return (v > value) is True
            except (TypeError, InvalidOperation):
                return test(v)  # raises the descriptive error

        return gt
    if op == "gte":

        def gte(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            try:
                return (v >= value) is True
            except (TypeError, InvalidOperation):
                return test(v)

        return gte
    if op == "lt":

        def lt(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            try:
                return (v < value) is True
            except (TypeError, InvalidOperation):
                return test(v)

        return lt
    if op == "lte":

        def lte(c: _Ctx) -> bool:
            v = get(c)
            if v is None:
                return False
            try:
                return (v <= value) is True
            except (TypeError, InvalidOperation):
                return test(v)

        return lte
    lo, hi = value

    def between(c: _Ctx) -> bool:
        v = get(c)
        if v is None:
            return False
        try:
            return (lo <= v <= hi) is True
        except (TypeError, InvalidOperation):
            return test(v)

    return between


_FUSABLE: Final = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"})


def _always(c: _Ctx) -> bool:
    return True


def _always_explained(c: _Ctx) -> tuple[bool, str]:
    return True, "no conditions"


def _all_of_two(a: Predicate, b: Predicate) -> Predicate:
    # The most common shape of rule; one call less than the general loop.
    return lambda c: a(c) and b(c)


def _all_of(preds: tuple[Predicate, ...]) -> Predicate:
    # Plain loops: all()/any() over a generator cost a frame per event on the hot path.
    def every(c: _Ctx) -> bool:
        held = True
        for p in preds:
            if not p(c):
                held = False
                break
        return held

    return every


def compile_condition(node: ConditionNode, types: Sequence[str]) -> tuple[Predicate, Explainer]:
    """Turn a condition tree into a fast predicate and an explaining twin.

    The explainer returns, with the result, the reason: for a false ``all`` the first failing
    comparison, for a false ``any`` every alternative's reason.
    """
    if isinstance(node, Comparison):
        return _compile_comparison(node, types)
    if isinstance(node, NotCondition):
        inner, inner_explain = compile_condition(node.not_, types)

        def negate(c: _Ctx) -> bool:
            return not inner(c)

        def explain_not(c: _Ctx) -> tuple[bool, str]:
            ok, why = inner_explain(c)
            return not ok, f"not ({why})"

        return negate, explain_not
    children = node.all if isinstance(node, AllCondition) else node.any
    compiled = [compile_condition(child, types) for child in children]
    preds = tuple(p for p, _ in compiled)
    explainers = tuple(e for _, e in compiled)
    if isinstance(node, AllCondition):
        if len(preds) == 1:
            return preds[0], explainers[0]

        def explain_all(c: _Ctx) -> tuple[bool, str]:
            for e in explainers:
                ok, why = e(c)
                if not ok:
                    return False, why
            return True, "all conditions held"

        return (_all_of_two(*preds) if len(preds) == 2 else _all_of(preds)), explain_all

    assert isinstance(node, AnyCondition)

    def either(c: _Ctx) -> bool:
        held = False
        for p in preds:
            if p(c):
                held = True
                break
        return held

    def explain_any(c: _Ctx) -> tuple[bool, str]:
        reasons = []
        for e in explainers:
            ok, why = e(c)
            if ok:
                return True, why
            reasons.append(why)
        return False, "none of: " + "; ".join(reasons)

    return either, explain_any


# --------------------------------------------------------------------------- actions

# A maker returns None for an award that came to zero points: there is nothing to record.
EffectMaker = Callable[[_Ctx], Effect | None]


def _award_maker(
    rule_id: str, name: str, action: AwardPointsAction, types: Sequence[str]
) -> EffectMaker:
    if action.points is not None:
        fixed = Effect(rule_id, name, "award_points", points=action.points)
        return lambda c: fixed

    of = action.of or "data.amount"
    spec = resolve_fact(of, types)
    if spec is None:
        raise ValueError(f"unknown fact {of!r}")
    get = make_getter(spec)
    per_unit = Decimal(repr(action.per_unit))
    multiplier = Decimal(repr(action.multiplier)) if action.multiplier is not None else Decimal(1)
    coefficient = _DEC.multiply(per_unit, multiplier)
    rounding = action.rounding or "floor"
    # math.floor/ceil on a Decimal are exact and several times cheaper than to_integral_value.
    # "nearest" is floor(x + 1/2): halves go up, which is the usual shop expectation.
    to_int: Callable[[Decimal], int] = math.ceil if rounding == "ceil" else math.floor
    half = Decimal("0.5") if rounding == "nearest" else Decimal(0)
    step = action.round_to or 1
    # Never more than the contract's bound, whatever the fact's value: an award too large
    # for the ledger would fail every event the rule sees.
    cap = action.max_points or MAX_AWARD_POINTS

    def award(c: _Ctx) -> Effect | None:
        raw = get(c)
        if type(raw) is not Decimal and type(raw) is not int:
            if raw is None:
                raise RuleRuntimeError(f"award_points: {of} is missing")
            if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
                raise RuleRuntimeError(
                    f"award_points: {of} is not a number (a {_typename(raw)}: {_fmt(raw)})"
                )
        exact = _DEC.multiply(raw, coefficient)
        if step == 1:
            points = to_int(_DEC.add(exact, half) if half else exact)
        else:
            scaled = _DEC.divide(exact, step)
            points = to_int(_DEC.add(scaled, half) if half else scaled) * step
        if cap is not None and points > cap:
            points = cap
        if points <= 0:
            if points == 0:
                return None
            raise RuleRuntimeError(f"award_points: negative award ({points}) from {of}")
        return Effect(rule_id, name, "award_points", points)

    return award


def _action_maker(
    rule_id: str,
    name: str,
    action: Any,
    types: Sequence[str],
) -> EffectMaker:
    if isinstance(action, AwardPointsAction):
        return _award_maker(rule_id, name, action, types)
    if isinstance(action, MultiplyPointsAction):
        # Points are settled after every rule has run; see _apply_multipliers.
        pending = Effect(rule_id, name, "multiply_points", factor=Decimal(repr(action.factor)))
        return lambda c: pending
    if isinstance(action, AwardBadgeAction):
        badge = Effect(rule_id, name, "award_badge", badge=action.badge)
        return lambda c: badge
    if isinstance(action, SetTierAction):
        tier = Effect(rule_id, name, "set_tier", tier=action.tier)
        return lambda c: tier
    if isinstance(action, GrantPerkAction):
        if action.expires_in_days is None:
            perk = Effect(rule_id, name, "grant_perk", perk=action.perk)
            return lambda c: perk
        days = timedelta(days=action.expires_in_days)
        slug = action.perk
        return lambda c: Effect(
            rule_id, name, "grant_perk", perk=slug, perk_expires_at=c.at() + days
        )
    if isinstance(action, NotifyAction):
        note = Effect(
            rule_id,
            name,
            "notify",
            notification=action.notification,
            template=action.template,
        )
        return lambda c: note
    raise ValueError(f"unknown action {action!r}")


# --------------------------------------------------------------------------- compiled rules


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate. ``limits`` is what the database layer must enforce when it
    records an effect of this rule."""

    rule_id: str
    name: str
    priority: int
    stop: bool
    limits: Limits | None
    document: RuleDocument
    condition: Predicate
    explain_condition: Explainer
    makers: tuple[EffectMaker, ...]
    static_effects: tuple[Effect, ...] | None
    windowed: bool
    active_from: datetime | None
    active_until: datetime | None
    per_customer_count: int | None
    limit_reason: str
    budget_points: int | None
    has_multiplier: bool


def _static_effects(makers: tuple[EffectMaker, ...]) -> tuple[Effect, ...]:
    # Static makers ignore their context, so calling them once without one is safe.
    no_context: Any = None
    return tuple(e for make in makers if (e := make(no_context)) is not None)


def compile_rule(rule_id: str, doc: RuleDocument) -> CompiledRule:
    """Compile one validated rule document."""
    types = list(doc.types)
    if doc.conditions is None:
        condition: Predicate = _always
        explainer: Explainer = _always_explained
    else:
        condition, explainer = compile_condition(doc.conditions, types)
    makers = tuple(_action_maker(rule_id, doc.name, a, types) for a in doc.actions)
    static = all(
        not isinstance(a, AwardPointsAction | GrantPerkAction)
        or (isinstance(a, AwardPointsAction) and a.points is not None)
        or (isinstance(a, GrantPerkAction) and a.expires_in_days is None)
        for a in doc.actions
    )
    limits = doc.limits
    per_customer = limits.per_customer if limits is not None else None
    return CompiledRule(
        rule_id=rule_id,
        name=doc.name,
        priority=doc.priority,
        stop=doc.stop,
        limits=limits,
        document=doc,
        condition=condition,
        explain_condition=explainer,
        makers=makers,
        # Effects that do not depend on the event are built once and shared by every outcome.
        static_effects=_static_effects(makers) if static else None,
        windowed=doc.active_from is not None or doc.active_until is not None,
        active_from=doc.active_from,
        active_until=doc.active_until,
        per_customer_count=per_customer.count if per_customer is not None else None,
        limit_reason=(
            f"limit reached: {per_customer.count} per {per_customer.period}"
            if per_customer is not None
            else ""
        ),
        budget_points=limits.budget_points if limits is not None else None,
        has_multiplier=any(isinstance(a, MultiplyPointsAction) for a in doc.actions),
    )


# --------------------------------------------------------------------------- fast path

# Every rule of an event type is turned into one Python function, generated from the rule
# documents and compiled once per ruleset version, that answers which rules' active windows
# and conditions hold. Against the closures above it reads each fact once per event instead
# of once per comparison, and compares inline instead of through two or three calls per
# comparison. It only ever answers for an event on which it raised nothing; on any exception
# (a fact of the wrong type, garbage facts) evaluate() runs the closures rule by rule, which
# report the same errors they always did. Conditions and fact readers are pure, so evaluating
# a condition the closures would have skipped (after a stop, outside a window) changes
# nothing but the time taken. Explain mode always runs the closures: it needs every reason.
#
# The generated source holds only names it makes up (f0, g0, k3, ...): rules, fact readers
# and operands are passed in as values, never written into the source, so nothing a rule
# author types can become code.

_UNREAD: Final = object()
_ORDERED_SYMBOLS: Final = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

HeldRules = Callable[[_Ctx], list[CompiledRule]]


class _Source:
    """What a generated function refers to: fact readers (one local per fact), constants.

    ``certain`` holds the facts already read whenever generation reaches this point: the
    first comparison of a rule without an active window is always evaluated, so its fact
    needs no "read yet?" test in later comparisons."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_U": _UNREAD}
        self.facts: dict[tuple[str, FactKind], int] = {}
        self.certain: set[int] = set()
        self.leading = False

    def bind(self, value: Any) -> str:
        name = f"k{len(self.names)}"
        self.names[name] = value
        return name

    def fact(self, spec: FactSpec) -> tuple[str, str]:
        """The expression reading the fact (on its first use in the event), and the local
        holding it once read. make_getter depends on the path and the kind only."""
        key = (spec.path, spec.kind)
        n = self.facts.get(key)
        if n is None:
            n = self.facts[key] = len(self.facts)
            self.names[f"g{n}"] = make_getter(spec)
        read = f"f{n}" if n in self.certain else f"(f{n} if f{n} is not _U else (f{n} := g{n}(c)))"
        if self.leading:
            self.certain.add(n)
            self.leading = False
        return read, f"f{n}"


def _comparison_source(cmp: Comparison, types: Sequence[str], src: _Source) -> str:
    """The inline twin of _compile_comparison's predicate: the same value for every fact
    value it does not raise on."""
    spec = resolve_fact(cmp.fact, types)
    if spec is None:
        raise ValueError(f"unknown fact {cmp.fact!r}")
    op = cmp.op
    value = normalize_operand(spec, op, cmp.value)
    read, v = src.fact(spec)
    if op == "exists":
        return f"({read} is not None)" if value else f"({read} is None)"
    if spec.kind is FactKind.ANY and (op == "eq" or op == "ne"):
        # _loose_eq inline: true never equals 1 in untyped facts.
        same_kind = "is" if type(value) is bool else "is not"
        equal = f"type({v}) {same_kind} bool and {v} == {src.bind(value)}"
        return f"({read} is not None and {'' if op == 'eq' else 'not '}({equal}))"
    if spec.kind is FactKind.ANY or spec.kind is FactKind.STRING_LIST or op not in _FUSABLE:
        return f"({read} is not None and {src.bind(_test_for(spec, op, value))}({v}))"
    if op == "eq":
        return f"({read} is not None and {v} == {src.bind(value)})"
    if op == "ne":
        return f"({read} is not None and {v} != {src.bind(value)})"
    if op == "in":
        return f"({read} is not None and {v} in {src.bind(frozenset(value))})"
    if op == "not_in":
        return f"({read} is not None and {v} not in {src.bind(frozenset(value))})"
    if spec.kind is FactKind.NUMBER:
        # Number facts are Decimals, which order against a Decimal twice as fast as against an
        # int. The answer is the same for every fact value but a NaN float, which raises
        # against a Decimal, and then the closures answer instead.
        value = tuple(map(_as_decimal, value)) if op == "between" else _as_decimal(value)
    if op == "between":
        lo, hi = value
        return f"({read} is not None and ({src.bind(lo)} <= {v} <= {src.bind(hi)}) is True)"
    return f"({read} is not None and ({v} {_ORDERED_SYMBOLS[op]} {src.bind(value)}) is True)"


def _as_decimal(value: Any) -> Any:
    return Decimal(value) if type(value) is int else value


def _condition_source(node: ConditionNode, types: Sequence[str], src: _Source) -> str:
    if isinstance(node, Comparison):
        return _comparison_source(node, types, src)
    if isinstance(node, NotCondition):
        return f"(not {_condition_source(node.not_, types, src)})"
    if isinstance(node, AllCondition):
        return "(" + " and ".join(_condition_source(n, types, src) for n in node.all) + ")"
    return "(" + " or ".join(_condition_source(n, types, src) for n in node.any) + ")"


def _window_source(rule: CompiledRule, src: _Source) -> str:
    # The negation of evaluate()'s "outside active window" test, on the same comparisons.
    outside = []
    if rule.active_from is not None:
        outside.append(f"a < {src.bind(rule.active_from)}")
    if rule.active_until is not None:
        outside.append(f"a >= {src.bind(rule.active_until)}")
    return f"(not ({' or '.join(outside)}))"


def _held_rules(rules: Sequence[CompiledRule]) -> HeldRules:
    """Generate and compile the function answering, for an event, which of ``rules`` (in
    their order) are in their active window and have their conditions met."""
    src = _Source()
    body = []
    for rule in rules:
        tests = []
        if rule.windowed:
            tests.append(_window_source(rule, src))
        conditions = rule.document.conditions
        if conditions is not None:
            src.leading = not rule.windowed
            tests.append(_condition_source(conditions, list(rule.document.types), src))
        held = f"held.append({src.bind(rule)})"
        body.append(
            f"        if {' and '.join(tests)}:\n            {held}" if tests else f"        {held}"
        )
    lines = ["    def held_rules(c):", "        held = []"]
    if src.facts:
        lines.append("        " + " = ".join(f"f{n}" for n in src.facts.values()) + " = _U")
    if any(rule.windowed for rule in rules):
        lines.append("        a = c.at()")
    # Constants and readers come in as arguments of an enclosing function, so the generated
    # code loads them as closure cells rather than looking them up as globals.
    source = "\n".join(
        [
            f"def make({', '.join(src.names)}):",
            *lines,
            *body,
            "        return held",
            "    return held_rules",
            "",
        ]
    )
    namespace: dict[str, Any] = {}
    # Trusted input: the source is made of generated names only (see above).
    exec(compile(source, "<compiled rules>", "exec"), namespace)  # noqa: S102
    function: HeldRules = namespace["make"](**src.names)
    return function


class CompiledRuleset:
    """An immutable, evaluation-ready ruleset version: enabled rules indexed by event type and
    sorted by (priority, rule_id)."""

    __slots__ = ("_by_id", "_by_type", "_held", "version")

    def __init__(
        self,
        version: int,
        by_type: dict[str, tuple[CompiledRule, ...]],
        by_id: dict[str, CompiledRule],
    ) -> None:
        self.version = version
        self._by_type = by_type
        self._by_id: dict[str, CompiledRule] = by_id
        self._held: dict[str, HeldRules] = {t: _held_rules(rules) for t, rules in by_type.items()}

    def rule(self, rule_id: str) -> CompiledRule:
        """The compiled (enabled) rule with this id; KeyError if there is none."""
        return self._by_id[rule_id]

    def rules_for(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The rules an event of this type is evaluated against, in evaluation order."""
        return self._by_type.get(event_type, ())

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """All enabled rules, sorted by (priority, rule_id)."""
        return tuple(sorted(self._by_id.values(), key=lambda r: (r.priority, r.rule_id)))

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id


def compile_ruleset(version: int, rules: Sequence[tuple[str, RuleDocument]]) -> CompiledRuleset:
    """Compile a ruleset version; disabled rules are left out. Raises ValueError on a duplicate
    rule id."""
    by_id: dict[str, CompiledRule] = {}
    for rule_id, doc in rules:
        if rule_id in by_id:
            raise ValueError(f"duplicate rule id {rule_id!r}")
        if doc.enabled:
            by_id[rule_id] = compile_rule(rule_id, doc)
    by_type: dict[str, list[CompiledRule]] = {}
    for compiled in by_id.values():
        for t in dict.fromkeys(compiled.document.types):
            by_type.setdefault(t, []).append(compiled)
    ordered = {
        t: tuple(sorted(group, key=lambda r: (r.priority, r.rule_id)))
        for t, group in by_type.items()
    }
    return CompiledRuleset(version, ordered, by_id)


# --------------------------------------------------------------------------- evaluation


def _message(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, RuleRuntimeError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def evaluate(
    ruleset: CompiledRuleset,
    event: EventFacts,
    customer: CustomerFacts,
    usage: LimitUsage = NO_USAGE,
    *,
    explain: bool = False,
) -> Outcome:
    """Decide what ``event`` earns. Pure, deterministic, never raises.

    Rules run in (priority, rule_id) order. For each: active window, conditions, per-customer
    limit, then points are computed and the budget checked; a rule passing all of them fires.
    multiply_points effects are settled after every rule has run.
    """
    try:
        rules: Sequence[CompiledRule] = ruleset._by_type.get(event.type, ())
    except Exception:  # e.g. an unhashable event type: it matches no rule
        rules = ()
    effects: list[Effect] = []
    errors: list[RuleError] = []
    skipped: list[SkippedRule] = []
    fired: list[str] = []
    if not rules:
        return Outcome(effects, ruleset.version, skipped, errors, fired)

    ctx = _Ctx(event, customer)
    # Explain mode needs every rule's reason, so it always goes rule by rule.
    held = False
    if not explain:
        try:
            rules = ruleset._held[event.type](ctx)
            held = True
        except Exception:  # the closures below will say which rule failed and why
            held = False
    stop_priority: int | None = None
    stopped_by = ""
    multipliers = False
    for rule in rules:
        if stop_priority is not None and rule.priority > stop_priority:
            if explain:
                skipped.append(
                    SkippedRule(
                        rule.rule_id, rule.name, f"not evaluated: stopped by rule {stopped_by}"
                    )
                )
            continue
        try:
            if held:
                pass  # in its window, conditions met: the generated function checked both
            elif rule.windowed and (
                (rule.active_from is not None and ctx.at() < rule.active_from)
                or (rule.active_until is not None and ctx.at() >= rule.active_until)
            ):
                if explain:
                    skipped.append(SkippedRule(rule.rule_id, rule.name, "outside active window"))
                continue
            elif explain:
                ok, why = rule.explain_condition(ctx)
                if not ok:
                    skipped.append(SkippedRule(rule.rule_id, rule.name, why))
                    continue
            elif not rule.condition(ctx):
                continue
            if (
                rule.per_customer_count is not None
                and usage.get(rule.rule_id).fired_in_period >= rule.per_customer_count
            ):
                if explain:
                    skipped.append(SkippedRule(rule.rule_id, rule.name, rule.limit_reason))
                continue
            produced = rule.static_effects
            if produced is None:
                made = []
                for make in rule.makers:
                    effect = make(ctx)
                    if effect is not None:
                        made.append(effect)
                produced = tuple(made)
            if rule.budget_points is not None:
                remaining = rule.budget_points - usage.get(rule.rule_id).points_issued
                wanted = sum(e.points or 0 for e in produced if e.action == "award_points")
                if remaining <= 0 or wanted > remaining:
                    if explain:
                        skipped.append(SkippedRule(rule.rule_id, rule.name, "budget exhausted"))
                    continue
        except Exception as exc:  # a broken rule must never fail the event
            message = _message(exc)
            errors.append(RuleError(rule.rule_id, message))
            if explain:
                skipped.append(SkippedRule(rule.rule_id, rule.name, f"error: {message}"))
            continue
        fired.append(rule.rule_id)
        effects.extend(produced)
        if rule.has_multiplier:
            multipliers = True
        if rule.stop and stop_priority is None:
            stop_priority = rule.priority
            stopped_by = rule.rule_id

    unsettled = effects
    if multipliers:
        try:
            effects, withdrawn = _apply_multipliers(ruleset, effects, usage)
            reason = "budget exhausted"
        except Exception as exc:  # same promise as per rule: withdraw, report, carry on
            reason = f"error: {_message(exc)}"
            withdrawn = list(dict.fromkeys(e.rule_id for e in effects if e.factor is not None))
            errors.extend(RuleError(rule_id, reason[7:]) for rule_id in withdrawn)
            effects = [e for e in effects if e.rule_id not in withdrawn]
        for rule_id in withdrawn:
            fired.remove(rule_id)
            if explain:
                skipped.append(SkippedRule(rule_id, ruleset.rule(rule_id).name, reason))
    return Outcome(effects, ruleset.version, skipped, errors, fired, unsettled)


def _apply_multipliers(
    ruleset: CompiledRuleset, effects: list[Effect], usage: LimitUsage
) -> tuple[list[Effect], list[str]]:
    """Settle multiply_points effects against the event's total base award.

    Multipliers apply in evaluation order to the running product, each getting the increase of
    floor(base * product) it caused, so their extras add up exactly to
    floor(base * all factors) - base. A multiplier rule whose budget cannot cover its own awards
    plus its extra is withdrawn entirely and the remaining ones are settled again. Returns the
    settled effects and the ids of the withdrawn rules.
    """
    withdrawn: list[str] = []
    while True:
        extras = _multiplier_extras(effects)
        per_rule: dict[str, int] = {}
        for i, extra in extras.items():
            rule_id = effects[i].rule_id
            per_rule[rule_id] = per_rule.get(rule_id, 0) + extra
        over: str | None = None
        for rule_id, extra in per_rule.items():
            budget = ruleset.rule(rule_id).budget_points
            if budget is None:
                continue
            own = sum(
                e.points or 0
                for e in effects
                if e.rule_id == rule_id and e.action == "award_points"
            )
            if own + extra > budget - usage.get(rule_id).points_issued:
                over = rule_id
                break
        if over is None:
            break
        effects = [e for e in effects if e.rule_id != over]
        withdrawn.append(over)
    return _settled(effects, extras), withdrawn


def _multiplier_extras(effects: Sequence[Effect]) -> dict[int, int]:
    """The extra points of each multiply_points effect, by its index in ``effects``."""
    base = sum(e.points or 0 for e in effects if e.action == "award_points")
    product = Decimal(1)
    previous = base
    extras: dict[int, int] = {}
    for i, e in enumerate(effects):
        if e.action == "multiply_points" and e.factor is not None:
            product = _DEC.multiply(product, e.factor)
            total = max(previous, min(math.floor(_DEC.multiply(base, product)), MAX_EVENT_POINTS))
            extras[i] = total - previous
            previous = total
    return extras


def _settled(effects: Sequence[Effect], extras: Mapping[int, int]) -> list[Effect]:
    settled = []
    for i, e in enumerate(effects):
        if i not in extras:
            settled.append(e)
        elif extras[i] != 0:  # a multiplier with nothing to multiply leaves no ledger line
            settled.append(e._replace(points=extras[i]))
    return settled


def settle_without(outcome: Outcome, dropped: Iterable[str]) -> list[Effect]:
    """The outcome's effects once the rules ``dropped`` are taken out, with multipliers
    settled again on the awards that remain (the database layer drops a rule that lost a
    limit race after evaluation; a multiplier must not keep extras earned on its awards)."""
    gone = set(dropped)
    kept = [e for e in outcome.unsettled if e.rule_id in outcome.fired and e.rule_id not in gone]
    return _settled(kept, _multiplier_extras(kept))


# --------------------------------------------------------------------------- DB-layer helpers


def period_key(period: Period, occurred_at: datetime) -> str:
    """Key of the calendar period (UTC) containing ``occurred_at``, for limit counters:
    'lifetime', '2026-11-23' (day), '2026-W48' (ISO week, Monday start), '2026-11' (month).
    A naive datetime is taken to be UTC."""
    if period == "lifetime":
        return "lifetime"
    at = occurred_at.replace(tzinfo=UTC) if occurred_at.tzinfo is None else occurred_at
    utc = at.astimezone(UTC)
    if period == "day":
        return utc.date().isoformat()
    if period == "week":
        iso = utc.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if period == "month":
        return f"{utc.year:04d}-{utc.month:02d}"
    raise ValueError(f"unknown period {period!r}")


def tier_for_points(
    ladder: TierLadder | Sequence[TierThreshold], lifetime_points: int
) -> str | None:
    """The highest tier whose threshold ``lifetime_points`` reaches; None below the lowest."""
    steps = ladder.tiers if isinstance(ladder, TierLadder) else ladder
    thresholds = [s.min_lifetime_points for s in steps]
    index = bisect_right(thresholds, lifetime_points)
    return steps[index - 1].tier if index else None


__all__ = [
    "CompiledRule",
    "CompiledRuleset",
    "Effect",
    "Outcome",
    "RuleError",
    "RuleRuntimeError",
    "SkippedRule",
    "compile_condition",
    "compile_rule",
    "compile_ruleset",
    "evaluate",
    "make_getter",
    "period_key",
    "settle_without",
    "tier_for_points",
]
