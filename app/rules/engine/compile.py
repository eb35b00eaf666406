"""Compile one validated rule document: its condition closures, its effect makers, and the
limits the database layer must enforce when it records an effect of the rule."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.rules.engine.conditions import (
    Explainer,
    Predicate,
    _always,
    _always_explained,
    compile_condition,
)
from app.rules.engine.context import _DEC, _Ctx, _fmt, _typename, make_getter
from app.rules.engine.outcome import Effect, RuleRuntimeError
from app.rules.facts import resolve_fact
from app.rules.schemas import (
    AwardBadgeAction,
    AwardPointsAction,
    GrantPerkAction,
    IssueCouponAction,
    Limits,
    MultiplyPointsAction,
    NotifyAction,
    RuleDocument,
    SetTierAction,
)
from app.schemas import MAX_AWARD_POINTS

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
        # Points are settled after every rule has run; see evaluate._apply_multipliers.
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
    if isinstance(action, IssueCouponAction):
        coupon = Effect(rule_id, name, "issue_coupon", reward_id=action.reward_id)
        return lambda c: coupon
    raise ValueError(f"unknown action {action!r}")


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
