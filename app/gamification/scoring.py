"""What one accepted event adds to the live leaderboards: part of the pure reducer.

``app.rules.state.reduce`` calls ``score`` once the event's effects are applied; the
changes gather in ``unit.scores`` and the writer adds them to the score rows with one
upsert per unit (``score = score + delta``), so that no score is ever recomputed.
"""

from decimal import Decimal
from typing import Any

from app.events.types import EventType
from app.gamification.periods import PeriodKind, period_key
from app.rules.unit import CustomerState, ScoreChange, UnitState


class ScoreKind:
    points_earned = "points_earned"
    event_count = "event_count"
    purchase_amount = "purchase_amount"


def _value(board_score: str, event_types: frozenset[str], event: Any, points: int) -> Decimal:
    if event_types and event.type.value not in event_types:
        return Decimal(0)
    if board_score == ScoreKind.points_earned:
        return Decimal(points)
    if board_score == ScoreKind.event_count:
        return Decimal(1)
    if event.type is EventType.purchase:
        return Decimal(event.data.amount)
    return Decimal(0)


def score(unit: UnitState, state: CustomerState, event: Any, points: int) -> None:
    """Add ``event`` to every board it counts on (a board listing event types counts only
    those); ``points`` is what the event earned net of what it reversed. A tier-restricted
    board counts the events of customers who hold that tier once the event is applied."""
    for board in unit.boards:
        if board.tier is not None and state.tier != board.tier:
            continue
        value = _value(board.score, board.event_types, event, points)
        if not value:
            continue
        key = (board.id, period_key(PeriodKind(board.period), event.occurred_at), state.id)
        change = unit.scores.get(key)
        if change is None:
            unit.scores[key] = ScoreChange(value, event.occurred_at, state.leaderboard_opt_out)
        else:
            change.delta += value
            change.reached_at = max(change.reached_at, event.occurred_at)
