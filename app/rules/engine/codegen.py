"""The fast path: one generated Python function per event type and ruleset version.

The function is generated from the rule documents of that event type and answers which rules'
active windows and conditions hold. Against the closures of conditions.py it reads each fact
once per event instead of once per comparison, and compares inline instead of through two or
three calls per comparison. It only ever answers for an event on which it raised nothing; on any
exception (a fact of the wrong type, garbage facts) evaluate() runs the closures rule by rule,
which report the same errors they always did. Conditions and fact readers are pure, so
evaluating a condition the closures would have skipped (after a stop, outside a window) changes
nothing but the time taken. Explain mode always runs the closures: it needs every reason.

The generated source holds only names it makes up (f0, g0, k3, ...): rules, fact readers
and operands are passed in as values, never written into the source, so nothing a rule
author types can become code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final

from app.rules.engine.compile import CompiledRule
from app.rules.engine.conditions import _test_for
from app.rules.engine.context import _Ctx, make_getter
from app.rules.facts import FactKind, FactSpec, resolve_fact
from app.rules.schemas import (
    AllCondition,
    Comparison,
    ConditionNode,
    NotCondition,
    normalize_operand,
)

_UNREAD: Final = object()
_ORDERED_SYMBOLS: Final = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# On typed facts these compare inline; anything else calls the closures' own test, so that the
# type checks and error messages exist once.
_INLINE_OPS: Final = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"})

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
    """The inline twin of conditions._compile_comparison's predicate: the same value for every fact
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
    if spec.kind is FactKind.ANY or spec.kind is FactKind.STRING_LIST or op not in _INLINE_OPS:
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
