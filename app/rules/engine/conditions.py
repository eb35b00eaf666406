"""Conditions compiled to closures: a predicate and its explaining twin per condition tree.

This is the plain path. Explain mode always runs it, and evaluate() falls back to it whenever
the generated function of codegen.py is missing or raises; that function must agree with these
predicates on every event it does not raise on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from decimal import InvalidOperation
from typing import Any, Final

from app.rules.engine.context import _Ctx, _fmt, _typename, make_getter
from app.rules.engine.outcome import RuleRuntimeError
from app.rules.facts import FactKind, FactSpec, resolve_fact
from app.rules.schemas import (
    AllCondition,
    AnyCondition,
    Comparison,
    ConditionNode,
    NotCondition,
    normalize_operand,
)

Predicate = Callable[[_Ctx], bool]
Explainer = Callable[[_Ctx], tuple[bool, str]]


_LIST_TYPES: Final = (list, tuple, set, frozenset)


def _loose_eq(a: Any, b: Any) -> bool:
    # Untyped facts come from arbitrary JSON, where true must not equal 1.
    if (type(a) is bool) is not (type(b) is bool):
        return False
    return bool(a == b)


def _loose_in(v: Any, values: tuple[Any, ...]) -> bool:
    return any(_loose_eq(v, x) for x in values)


_ORDERINGS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _test_for(spec: FactSpec, op: str, value: Any) -> Callable[[Any], bool]:
    """The comparison applied to a present (non-null) fact value."""
    kind = spec.kind
    path = spec.path

    def mismatch(v: Any) -> RuleRuntimeError:
        return RuleRuntimeError(
            f"cannot evaluate {path} {op} {_fmt(value)}: the fact is a {_typename(v)} "
            f"(value {_fmt(v)})"
        )

    if op == "eq" or op == "ne":
        want = op == "eq"
        if kind is FactKind.ANY:
            return lambda v: _loose_eq(v, value) is want
        return lambda v: (v == value) is want
    order = _ORDERINGS.get(op)
    if order is not None:
        # The operator module's comparison is a C call, cheaper than a lambda's Python frame.
        def ordered(v: Any) -> bool:
            try:
                return bool(order(v, value))
            except (TypeError, InvalidOperation):
                raise mismatch(v) from None

        return ordered
    if op == "between":
        lo, hi = value

        def between(v: Any) -> bool:
            try:
                return bool(lo <= v <= hi)
            except (TypeError, InvalidOperation):
                raise mismatch(v) from None

        return between
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

    def predicate(c: _Ctx) -> bool:
        v = get(c)
        return v is not None and test(v)

    def explain(c: _Ctx) -> tuple[bool, str]:
        v = get(c)
        if v is None:
            return False, f"{label} was false (missing)"
        ok = test(v)
        return ok, f"{label} was {'true' if ok else 'false'} (value {_fmt(v)})"

    return predicate, explain


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
