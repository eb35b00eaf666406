"""Challenge progress: part of the pure reducer, run once an event's rules have applied.

The live challenges are compiled as rules are (``challenge_schemas.as_rule``): their
conditions decide which events count, and the effects of their actions, computed for the
completing event, are applied when the goal is reached. The customer's progress was read
under their lock, so whichever of several concurrent events completes a challenge, it
completes once: the units queue on the lock and each reads what the previous one wrote.
"""

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app.gamification.challenge_schemas import (
    ChallengeIn,
    FixedWindow,
    RollingWindow,
    SumGoal,
    as_rule,
)
from app.rules.effects import EventStep, effect_answer, effect_out
from app.rules.engine import Effect, compile_ruleset, evaluate
from app.rules.facts import CustomerFacts, EventFacts
from app.rules.unit import ChallengeDefinition, ChallengeSet, Progress

# The compiled sets of the last few combinations of live challenges, by (id, updated_at).
_CACHE: OrderedDict[tuple[tuple[str, datetime], ...], ChallengeSet] = OrderedDict()
_CACHE_SIZE = 8
_VERSION = -2


def body_of(row: Any) -> ChallengeIn:
    return ChallengeIn.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "event_types": row.event_types,
            "condition": row.condition,
            "goal": row.goal,
            "window": row.window,
            "actions": row.actions,
            "repeat": row.repeat,
        }
    )


def _definition(row: Any, body: ChallengeIn) -> ChallengeDefinition:
    goal, window = body.goal, body.window
    fixed = window if isinstance(window, FixedWindow) else None
    rolling = window.rolling_days if isinstance(window, RollingWindow) else None
    return ChallengeDefinition(
        id=row.id,
        name=row.name,
        target=goal.target if isinstance(goal, SumGoal) else Decimal(goal.count),
        sum_of=goal.sum if isinstance(goal, SumGoal) else None,
        starts_at=fixed.from_ if fixed else None,
        ends_at=fixed.until if fixed else None,
        rolling_days=rolling,
        repeat=row.repeat,
    )


def challenge_set(rows: list[Any]) -> ChallengeSet | None:
    """The live challenges, compiled (once per combination of definitions)."""
    if not rows:
        return None
    key = tuple((row.id, row.updated_at) for row in rows)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    bodies = {row.id: body_of(row) for row in rows}
    built = ChallengeSet(
        {row.id: _definition(row, bodies[row.id]) for row in rows},
        compile_ruleset(_VERSION, [(row.id, as_rule(row.id, bodies[row.id])) for row in rows]),
    )
    _CACHE[key] = built
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return built


def _amount(data: Mapping[str, Any], path: str | None) -> Decimal:
    if path is None:
        return Decimal(1)
    value: Any = data
    for key in path.split(".")[1:]:
        value = value.get(key) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and amount > 0 else Decimal(0)


def _window(definition: ChallengeDefinition, progress: Progress | None, at: datetime) -> Any:
    """The customer's window the event at ``at`` counts in, or None when it counts in none;
    a new window comes back as a fresh ``Progress`` carrying the completions so far."""
    completions = progress.completions if progress else 0
    completed_at = progress.completed_at if progress else None
    if definition.repeat == "once" and completions:
        return None
    if definition.rolling_days is None:
        assert definition.starts_at is not None
        assert definition.ends_at is not None
        if not definition.starts_at <= at < definition.ends_at:
            return None
        if progress is None:
            return Progress(definition.starts_at, definition.ends_at, Decimal(0), False, 0, None)
        return None if progress.window_completed else progress
    if progress is None or at >= progress.deadline:
        deadline = at + timedelta(days=definition.rolling_days)
        return Progress(at, deadline, Decimal(0), False, completions, completed_at)
    if at < progress.window_start or progress.window_completed:
        return None
    return progress


def track(
    step: EventStep, challenges: ChallengeSet, event: EventFacts, customer: CustomerFacts
) -> None:
    """Count the event in the customer's challenges; fire the actions of those it completes."""
    outcome = evaluate(challenges.compiled, event, customer)
    if not outcome.fired:
        return
    effects: dict[str, list[Effect]] = {}
    for effect in outcome.effects:
        effects.setdefault(effect.rule_id, []).append(effect)
    state, unit = step.state, step.unit
    at = step.event.occurred_at
    for challenge_id in outcome.fired:
        definition = challenges.definitions[challenge_id]
        progress = _window(definition, state.challenges.get(challenge_id), at)
        amount = _amount(event.data, definition.sum_of) if progress is not None else Decimal(0)
        if progress is None or not amount:
            continue
        progress.progress += amount
        state.challenges[challenge_id] = progress
        unit.progress_changed.add((challenge_id, state.id))
        if progress.progress < definition.target:
            continue
        progress.window_completed = True
        progress.completions += 1
        progress.completed_at = at
        step.effects.append(effect_answer(challenge_id, definition.name, "challenge_completed"))
        for effect in effects.get(challenge_id, []):
            step.effects.append(effect_out(effect))
            step.apply(effect)
        step.emit(
            "challenge.completed",
            {
                "customer_id": state.id,
                "event_id": step.event.id,
                "challenge_id": challenge_id,
                "name": definition.name,
                "completions": progress.completions,
            },
        )
