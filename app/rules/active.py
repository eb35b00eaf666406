"""A ruleset version ready to judge events, with what its rules need the loader to read."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.customers.facts import JOINED_FACTS
from app.rules.engine import CompiledRule, CompiledRuleset, compile_ruleset
from app.rules.schemas import (
    AllCondition,
    AnyCondition,
    Comparison,
    Condition,
    IssueCouponAction,
    RuleDocument,
    TierLadder,
)


def _condition_facts(condition: Condition | None) -> set[str]:
    if condition is None:
        return set()
    if isinstance(condition, Comparison):
        return {condition.fact}
    if isinstance(condition, AllCondition):
        return set().union(*(_condition_facts(c) for c in condition.all))
    if isinstance(condition, AnyCondition):
        return set().union(*(_condition_facts(c) for c in condition.any))
    return _condition_facts(condition.not_)


def facts_read(documents: Iterable[RuleDocument]) -> frozenset[str]:
    """Every fact path the documents' conditions compare."""
    return frozenset().union(*(_condition_facts(d.conditions) for d in documents))


def _actions(documents: Iterable[RuleDocument]) -> frozenset[str]:
    return frozenset(action.type for d in documents if d.enabled for action in d.actions)


@dataclass(frozen=True, slots=True)
class ActiveRuleset:
    """Compiled rules and the tier ladder of one version.

    The loader reads badges and perks only for rulesets whose rules use them, and limit
    usage only for the rules an event type can fire: most programmes need neither.
    """

    version: int
    compiled: CompiledRuleset
    tiers: TierLadder | None
    facts: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    _limited: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict, repr=False)
    # Enabled rules scoped to an experiment's variant: rule id -> (experiment id, variant).
    scoped: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, version: int, rules: list[tuple[str, RuleDocument]], tiers: TierLadder | None
    ) -> "ActiveRuleset":
        compiled = compile_ruleset(version, rules)
        documents = [doc for _, doc in rules]
        limited: dict[str, tuple[CompiledRule, ...]] = {}
        for rule in compiled.rules:
            limits = rule.limits
            if limits is None:
                continue
            if limits.per_customer is None and limits.budget_points is None:
                continue
            for event_type in dict.fromkeys(rule.document.types):
                limited[event_type] = (*limited.get(event_type, ()), rule)
        scoped = {
            rule_id: (doc.experiment.id, doc.experiment.variant)
            for rule_id, doc in rules
            if doc.enabled and doc.experiment is not None
        }
        return cls(
            version, compiled, tiers, facts_read(documents), _actions(documents), limited, scoped
        )

    def limited(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The rules an event of this type can fire that have a limit or a budget."""
        return self._limited.get(event_type, ())

    @property
    def reads_badges(self) -> bool:
        return "customer.badges" in self.facts or "award_badge" in self.actions

    @property
    def targeting(self) -> frozenset[str]:
        """The ``app.customers.facts`` columns the rules read that the loader must join in
        (``recency_days`` and ``monetary`` come from the customer's own state)."""
        return frozenset(
            path.removeprefix("customer.")
            for path in self.facts
            if path.removeprefix("customer.") in JOINED_FACTS and path.startswith("customer.")
        )

    @property
    def reads_segments(self) -> bool:
        return "customer.segments" in self.facts

    @property
    def grants_perks(self) -> bool:
        return "grant_perk" in self.actions

    def rewards_issued(self, event_types: Iterable[str]) -> list[str]:
        """Reward ids the issue_coupon actions of these types' rules name, sorted."""
        if "issue_coupon" not in self.actions:
            return []
        return sorted(
            {
                action.reward_id
                for t in event_types
                for rule in self.compiled.rules_for(t)
                for action in rule.document.actions
                if isinstance(action, IssueCouponAction)
            }
        )

    def budgeted(self, event_types: Iterable[str]) -> list[str]:
        """Rule ids with a budget that events of these types can fire, sorted."""
        return sorted(
            {
                rule.rule_id
                for t in event_types
                for rule in self.limited(t)
                if rule.budget_points is not None
            }
        )
