"""Variant-scoped rules in the reducer: which of an experiment's treatments apply to the
customer, and what the others would have given them. Pure, like the rest of the reducer.

A rule scoped to ``(experiment, variant)`` applies to a customer exposed to that variant
of that running experiment (or, in a backtest, to everyone, ``unit.forced``). Anyone else
is judged as if the rule did not exist. For a customer exposed to another variant, the
event is judged a second time as if they were in the rule's variant, and what its rules
gave there is the event's ``would_have`` for that variant.
"""

from collections import defaultdict
from typing import Any

from app.rules.active import ActiveRuleset
from app.rules.effects import effect_out
from app.rules.engine import Outcome
from app.rules.unit import UnitState

Alternatives = dict[tuple[str, str], frozenset[str]]


def scoping(
    ruleset: ActiveRuleset, unit: UnitState, customer_id: str, event_type: str
) -> tuple[frozenset[str], Alternatives]:
    """The scoped rules the customer does not get, and, per other variant they could have
    been in, its rules (listening to ``event_type``)."""
    if not ruleset.scoped:
        return frozenset(), {}
    running = {experiment.id for experiment in unit.experiments}
    listening = {rule.rule_id for rule in ruleset.compiled.rules_for(event_type)}
    excluded: set[str] = set()
    others: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule_id, (experiment_id, variant) in ruleset.scoped.items():
        theirs = unit.forced.get(experiment_id)
        if theirs is None and experiment_id in running:
            theirs = unit.exposed.get((experiment_id, customer_id))
        if theirs == variant:
            continue
        excluded.add(rule_id)
        if theirs is not None and rule_id in listening:
            others[(experiment_id, variant)].add(rule_id)
    return frozenset(excluded), {key: frozenset(rules) for key, rules in others.items()}


def record(
    unit: UnitState, customer_id: str, key: tuple[str, str], outcome: Outcome, rules: frozenset[str]
) -> dict[str, Any] | None:
    """What ``rules`` gave in the alternative ``outcome``, added to the customer's exposure;
    None when they gave nothing."""
    gained = [effect for effect in outcome.effects if effect.rule_id in rules]
    if not gained:
        return None
    experiment_id, variant = key
    points = sum(e.points or 0 for e in gained if e.action in ("award_points", "multiply_points"))
    exposure = (experiment_id, customer_id)
    totals = unit.would_have.get(exposure)
    if totals is not None:
        tally = totals.setdefault(variant, {"points": 0, "effects": 0})
        tally["points"] += points
        tally["effects"] += len(gained)
        unit.exposures_changed.add(exposure)
    return {
        "experiment_id": experiment_id,
        "variant": variant,
        "points": points,
        "effects": [effect_out(e) for e in gained],
    }
