"""A compiled ruleset version: its enabled rules indexed by event type, and for each event type
the generated function that answers which of them hold."""

from __future__ import annotations

from collections.abc import Sequence

from app.rules.engine.codegen import HeldRules, _held_rules
from app.rules.engine.compile import CompiledRule, compile_rule
from app.rules.schemas import RuleDocument


class CompiledRuleset:
    """An immutable, evaluation-ready ruleset version: enabled rules indexed by event type and
    sorted by (priority, rule_id).

    evaluate() reads ``_by_type`` and ``_held`` directly rather than through methods: it is
    their one reader, and it runs once per event."""

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
