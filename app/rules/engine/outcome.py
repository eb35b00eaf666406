"""What evaluating an event produces: the effects to write to the ledger, and the rules that
were skipped or failed on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, NamedTuple

ActionName = Literal[
    "award_points",
    "multiply_points",
    "award_badge",
    "set_tier",
    "grant_perk",
    "notify",
    "issue_coupon",
]


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
    reward_id: str | None = None


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
    """

    effects: list[Effect]
    ruleset_version: int
    skipped: list[SkippedRule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Net points of all effects."""
        return sum(e.points for e in self.effects if e.points is not None)


class RuleRuntimeError(Exception):
    """Raised inside a rule's closures for data the rule cannot work with."""
