"""Score one event against a compiled ruleset, then settle its multiply_points effects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

from app.rules.engine.compile import CompiledRule
from app.rules.engine.context import _DEC, _Ctx
from app.rules.engine.outcome import Effect, Outcome, RuleError, RuleRuntimeError, SkippedRule
from app.rules.engine.ruleset import CompiledRuleset
from app.rules.facts import NO_USAGE, CustomerFacts, EventFacts, LimitUsage
from app.schemas import MAX_EVENT_POINTS

_MAX_MESSAGE: Final[int] = 300


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
    excluded: frozenset[str] = frozenset(),
) -> Outcome:
    """Decide what ``event`` earns. Pure, deterministic, never raises.

    Rules run in (priority, rule_id) order. For each: active window, conditions, per-customer
    limit, then points are computed and the budget checked; a rule passing all of them fires.
    multiply_points effects are settled after every rule has run. Rules in ``excluded`` (an
    experiment's treatments, for a customer outside their variant) are passed over as if
    they did not exist.
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
        if excluded and rule.rule_id in excluded:
            if explain:
                skipped.append(SkippedRule(rule.rule_id, rule.name, "not in its variant"))
            continue
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
    return Outcome(effects, ruleset.version, skipped, errors, fired)


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
