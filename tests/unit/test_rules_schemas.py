"""Write-time validation of rule documents: every refusal is located at the offending node."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.rules.facts import FactKind, FactSpec, fact_catalogue, resolve_fact
from app.rules.schemas import (
    AllCondition,
    AwardPointsAction,
    Comparison,
    NotCondition,
    OperandError,
    RuleDocument,
    TierLadder,
    normalize_operand,
)

Loc = tuple[str | int, ...]


def rule(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "rule",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "points": 10}],
    }
    base.update(fields)
    return base


def error_locs(data: dict[str, Any]) -> set[Loc]:
    with pytest.raises(ValidationError) as caught:
        RuleDocument.model_validate(data)
    return {tuple(e["loc"]) for e in caught.value.errors()}


def refused_at(data: dict[str, Any], loc: Loc, kind: str | None = None) -> None:
    with pytest.raises(ValidationError) as caught:
        RuleDocument.model_validate(data)
    errors = caught.value.errors()
    assert [tuple(e["loc"]) for e in errors] == [loc], errors
    if kind is not None:
        assert errors[0]["type"] == kind


def when(condition: Any, **fields: Any) -> dict[str, Any]:
    return rule(conditions=condition, **fields)


def cmp(fact: str, op: str, value: Any) -> dict[str, Any]:
    return {"fact": fact, "op": op, "value": value}


# --------------------------------------------------------------------------- accepted documents


def test_minimal_document_and_defaults() -> None:
    doc = RuleDocument.model_validate(rule())
    assert doc.description == ""
    assert doc.conditions is None
    assert doc.limits is None
    assert doc.priority == 100
    assert doc.stop is False
    assert doc.enabled is True
    assert doc.active_from is None


def test_round_trip_through_json_keeps_the_not_key() -> None:
    data = when(
        {"not": {"all": [cmp("data.amount", "gte", 49.99), cmp("time.weekday", "in", [5, 6])]}},
        actions=[{"type": "award_points", "per_unit": 0.5, "rounding": "nearest"}],
        limits={"per_customer": {"count": 1, "period": "week"}, "budget_points": 1000},
        active_from="2026-11-01T00:00:00Z",
    )
    doc = RuleDocument.model_validate(data)
    assert isinstance(doc.conditions, NotCondition)
    dumped = doc.model_dump(mode="json")
    assert "not" in dumped["conditions"]
    assert RuleDocument.model_validate(dumped) == doc
    assert RuleDocument.model_validate_json(doc.model_dump_json()) == doc


def test_conditions_parse_into_their_node_types() -> None:
    doc = RuleDocument.model_validate(when({"all": [cmp("data.amount", "gt", 1)]}))
    assert isinstance(doc.conditions, AllCondition)
    assert doc.conditions.all == [Comparison(fact="data.amount", op="gt", value=1)]


def test_free_form_types_accept_any_data_field() -> None:
    RuleDocument.model_validate(when(cmp("data.source", "eq", "instagram"), types=["signup"]))
    # Mixed with a typed event type, an undeclared field is still allowed (kind any).
    RuleDocument.model_validate(
        when(cmp("data.rating", "gte", 4), types=["purchase", "cancellation"])
    )


def test_known_fields_of_loose_types_are_typed() -> None:
    refused_at(
        when(cmp("data.plan", "gt", 3), types=["upgrade"]),
        ("conditions", "op"),
        "invalid_op",
    )


def test_json_validation_reports_the_same_location() -> None:
    body = json.dumps(when({"all": [cmp("data.amount", "gt", 1), cmp("nope", "eq", 1)]}))
    with pytest.raises(ValidationError) as caught:
        RuleDocument.model_validate_json(body)
    assert [e["loc"] for e in caught.value.errors()] == [("conditions", "all", 1, "fact")]


def test_openapi_schema_carries_descriptions() -> None:
    schema = RuleDocument.model_json_schema()
    assert "LOWER" in schema["properties"]["priority"]["description"]
    assert schema["properties"]["actions"]["items"]["discriminator"]["propertyName"] == "type"
    comparison = schema["$defs"]["Comparison"]["properties"]
    assert all("description" in comparison[k] for k in ("fact", "op", "value"))


# --------------------------------------------------------------------------- facts


def test_unknown_fact() -> None:
    refused_at(
        when({"all": [cmp("data.amount", "gt", 1), cmp("customer.shoe_size", "eq", 42)]}),
        ("conditions", "all", 1, "fact"),
        "unknown_fact",
    )


def test_data_field_of_another_event_type() -> None:
    refused_at(when(cmp("data.rating", "gte", 4)), ("conditions", "fact"), "unknown_fact")


def test_malformed_fact_paths() -> None:
    refused_at(when(cmp("attributes", "eq", 1)), ("conditions", "fact"))
    refused_at(when(cmp("attributes..x", "eq", 1)), ("conditions", "fact"))
    refused_at(when(cmp("data.amount.cents", "eq", 1)), ("conditions", "fact"))


def test_deeply_located_error() -> None:
    tree = {
        "all": [
            cmp("data.amount", "gt", 1),
            {"any": [{"not": cmp("customer.tier", "eq", 5)}]},
        ]
    }
    refused_at(when(tree), ("conditions", "all", 1, "any", 0, "not", "value"), "invalid_value")


# --------------------------------------------------------------------------- operators and values


def test_unknown_operator() -> None:
    refused_at(when(cmp("data.amount", "approx", 1)), ("conditions", "op"), "literal_error")


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
def test_ordering_needs_an_ordered_fact(op: str) -> None:
    refused_at(when(cmp("customer.tier", op, "gold")), ("conditions", "op"), "invalid_op")


def test_between_needs_an_ordered_fact() -> None:
    refused_at(when(cmp("customer.badges", "between", ["a", "b"])), ("conditions", "op"))


def test_contains_needs_a_string_or_list_fact() -> None:
    refused_at(when(cmp("data.amount", "contains", 5)), ("conditions", "op"), "invalid_op")


def test_eq_on_a_list_fact_is_refused() -> None:
    refused_at(when(cmp("customer.badges", "eq", "vip")), ("conditions", "op"), "invalid_op")


@pytest.mark.parametrize("value", ["gold", [], None, {"a": 1}])
def test_in_needs_a_non_empty_list(value: Any) -> None:
    refused_at(when(cmp("customer.tier", "in", value)), ("conditions", "value"), "invalid_value")


def test_in_list_items_must_fit_the_fact() -> None:
    refused_at(when(cmp("customer.tier", "not_in", ["gold", 3])), ("conditions", "value"))


@pytest.mark.parametrize("value", [[1], [1, 2, 3], 5, [5, 1], ["a", "b"], [1, None]])
def test_between_needs_an_ordered_pair(value: Any) -> None:
    refused_at(when(cmp("data.amount", "between", value)), ("conditions", "value"))


def test_between_accepts_equal_bounds_and_dates() -> None:
    RuleDocument.model_validate(when(cmp("data.amount", "between", [5, 5])))
    RuleDocument.model_validate(
        when(cmp("customer.signup_date", "between", ["2026-01-01", "2026-12-31"]))
    )


@pytest.mark.parametrize(
    ("fact", "value"),
    [
        ("customer.tier", 3),  # string fact, number value
        ("data.amount", "50"),  # number fact, string value
        ("data.amount", True),
        ("customer.purchase_count", 2.5),  # integer fact, fractional value
        ("customer.signup_date", "yesterday"),
        ("customer.signup_date", "2026-01-01T00:00:00+00:00"),
        ("event.occurred_at", "2026-01-01T00:00:00"),  # no timezone
        ("attributes.vip", [1]),
        ("data.amount", None),
        ("data.amount", float("inf")),
    ],
)
def test_value_must_fit_the_fact_kind(fact: str, value: Any) -> None:
    refused_at(when(cmp(fact, "eq", value)), ("conditions", "value"), "invalid_value")


def test_exists_takes_a_boolean() -> None:
    refused_at(when(cmp("customer.tier", "exists", "yes")), ("conditions", "value"))
    RuleDocument.model_validate(when(cmp("customer.tier", "exists", False)))


def test_integer_fact_accepts_whole_floats() -> None:
    RuleDocument.model_validate(when(cmp("customer.purchase_count", "eq", 3.0)))


# --------------------------------------------------------------------------- tree shape


def test_condition_shape() -> None:
    refused_at(when({"foo": 1}), ("conditions",), "condition_shape")
    refused_at(when({"any": [cmp("data.amount", "gt", 1), 7]}), ("conditions", "any", 1))
    refused_at(when({"all": []}), ("conditions", "all"), "too_short")


def test_extra_keys_in_a_comparison() -> None:
    node = {**cmp("data.amount", "gt", 1), "unit": "EUR"}
    refused_at(when({"all": [node]}), ("conditions", "all", 0, "unit"), "extra_forbidden")


def test_depth_limit() -> None:
    node: dict[str, Any] = cmp("data.amount", "gt", 1)
    for _ in range(10):  # ten `not` wrappers put the comparison at depth 11
        node = {"not": node}
    expected: Loc = ("conditions", *(["not"] * 10))
    refused_at(when(node), expected, "condition_too_deep")
    RuleDocument.model_validate(when(node["not"]))  # depth 10 is fine


def test_node_count_limit() -> None:
    many = {"any": [cmp("data.amount", "gt", i) for i in range(200)]}  # 201 nodes
    refused_at(when(many), ("conditions",), "condition_too_large")
    RuleDocument.model_validate(when({"any": many["any"][:199]}))


# --------------------------------------------------------------------------- actions


@pytest.mark.parametrize("points", [0, -5])
def test_points_must_be_positive(points: int) -> None:
    refused_at(
        rule(actions=[{"type": "award_points", "points": points}]),
        ("actions", 0, "points"),
        "greater_than",
    )


@pytest.mark.parametrize("field", ["per_unit", "multiplier", "max_points", "round_to"])
def test_proportional_numbers_must_be_positive(field: str) -> None:
    action = {"type": "award_points", "per_unit": 1, field: 0}
    refused_at(rule(actions=[action]), ("actions", 0, field), "greater_than")


def test_award_needs_exactly_one_mode() -> None:
    both = {"type": "award_points", "points": 5, "per_unit": 1}
    refused_at(rule(actions=[both]), ("actions", 0, "per_unit"), "award_mode")
    refused_at(rule(actions=[{"type": "award_points"}]), ("actions", 0), "award_mode")


@pytest.mark.parametrize(
    ("field", "value"),
    [("rounding", "ceil"), ("round_to", 10), ("max_points", 5), ("multiplier", 2), ("of", "x")],
)
def test_proportional_options_are_refused_on_fixed_awards(field: str, value: Any) -> None:
    action = {"type": "award_points", "points": 5, field: value}
    refused_at(rule(actions=[action]), ("actions", 0, field), "award_mode")


def test_unknown_rounding() -> None:
    action = {"type": "award_points", "per_unit": 1, "rounding": "banker"}
    refused_at(rule(actions=[action]), ("actions", 0, "rounding"), "literal_error")


def test_award_source_must_be_a_known_number_fact() -> None:
    unknown = {"type": "award_points", "per_unit": 1, "of": "data.total"}
    refused_at(rule(actions=[unknown]), ("actions", 0, "of"), "invalid_fact")
    text = {"type": "award_points", "per_unit": 1, "of": "data.currency"}
    refused_at(rule(actions=[text]), ("actions", 0, "of"), "invalid_fact")
    # data.amount is the default source, and a review has none.
    default = {"type": "award_points", "per_unit": 1}
    refused_at(rule(types=["review"], actions=[default]), ("actions", 0, "of"), "invalid_fact")
    rating = {"type": "award_points", "per_unit": 1, "of": "data.rating"}
    RuleDocument.model_validate(rule(types=["review"], actions=[rating]))


def test_unknown_action() -> None:
    actions = [{"type": "award_points", "points": 5}, {"type": "explode"}]
    refused_at(rule(actions=actions), ("actions", 1, "type"), "unknown_action")
    refused_at(rule(actions=[{"points": 5}]), ("actions", 0, "type"), "unknown_action")


def test_extra_action_field() -> None:
    action = {"type": "award_badge", "badge": "b", "colour": "red"}
    refused_at(rule(actions=[action]), ("actions", 0, "colour"), "extra_forbidden")


@pytest.mark.parametrize("factor", [0, -1, 0.5, 10.01, 11])
def test_multiplier_factor_bounds(factor: float) -> None:
    action = {"type": "multiply_points", "factor": factor}
    refused_at(rule(actions=[action]), ("actions", 0, "factor"))


def test_multiplier_factor_ten_is_allowed() -> None:
    RuleDocument.model_validate(rule(actions=[{"type": "multiply_points", "factor": 10}]))


@pytest.mark.parametrize("badge", ["", "First Review", "-x", "a" * 51, "é"])
def test_badge_slug(badge: str) -> None:
    refused_at(rule(actions=[{"type": "award_badge", "badge": badge}]), ("actions", 0, "badge"))


def test_other_action_fields() -> None:
    refused_at(rule(actions=[{"type": "set_tier", "tier": "Gold!"}]), ("actions", 0, "tier"))
    perk = {"type": "grant_perk", "perk": "early_access", "expires_in_days": 0}
    refused_at(rule(actions=[perk]), ("actions", 0, "expires_in_days"))
    note = {"type": "notify", "notification": "thank_you", "template": ""}
    refused_at(rule(actions=[note]), ("actions", 0, "template"))
    refused_at(rule(actions=[{"type": "notify"}]), ("actions", 0, "notification"), "missing")


def test_actions_must_not_be_empty() -> None:
    refused_at(rule(actions=[]), ("actions",), "too_short")


# --------------------------------------------------------------------------- document fields


def test_types() -> None:
    refused_at(rule(types=[]), ("types",), "too_short")
    refused_at(rule(types=["purchase", "sale"]), ("types", 1), "enum")
    refused_at(rule(types=["purchase", "purchase"]), ("types", 1), "duplicate_type")


def test_name_length() -> None:
    refused_at(rule(name=""), ("name",), "string_too_short")
    refused_at(rule(name="x" * 101), ("name",), "string_too_long")
    RuleDocument.model_validate(rule(name="x" * 100))


def test_active_window() -> None:
    refused_at(
        rule(active_from="2026-02-01T00:00:00Z", active_until="2026-01-01T00:00:00Z"),
        ("active_until",),
        "window_order",
    )
    refused_at(
        rule(active_from="2026-02-01T00:00:00Z", active_until="2026-02-01T00:00:00Z"),
        ("active_until",),
    )
    refused_at(rule(active_from="2026-02-01T00:00:00"), ("active_from",), "timezone_aware")


def test_limits() -> None:
    refused_at(rule(limits={"per_customer": {"count": 0}}), ("limits", "per_customer", "count"))
    refused_at(
        rule(limits={"per_customer": {"count": 1, "period": "year"}}),
        ("limits", "per_customer", "period"),
        "literal_error",
    )
    refused_at(rule(limits={"budget_points": 0}), ("limits", "budget_points"), "greater_than")
    doc = RuleDocument.model_validate(rule(limits={"per_customer": {"count": 2}}))
    assert doc.limits is not None
    assert doc.limits.per_customer is not None
    assert doc.limits.per_customer.period == "lifetime"


def test_unknown_top_level_field() -> None:
    refused_at(rule(weight=3), ("weight",), "extra_forbidden")


def test_several_errors_are_reported_together() -> None:
    data = when(
        {"all": [cmp("nope", "eq", 1), cmp("customer.tier", "gt", 1)]},
        types=["purchase", "purchase"],
    )
    assert error_locs(data) == {
        ("types", 1),
        ("conditions", "all", 0, "fact"),
        ("conditions", "all", 1, "op"),
    }


# --------------------------------------------------------------------------- tiers


def test_tier_ladder() -> None:
    ladder = {
        "tiers": [
            {"tier": "silver", "min_lifetime_points": 1000},
            {"tier": "gold", "min_lifetime_points": 5000},
        ]
    }
    assert [t.tier for t in TierLadder.model_validate(ladder).tiers] == ["silver", "gold"]


def ladder_refused_at(tiers: list[dict[str, Any]], loc: Loc) -> None:
    with pytest.raises(ValidationError) as caught:
        TierLadder.model_validate({"tiers": tiers})
    assert [tuple(e["loc"]) for e in caught.value.errors()] == [loc]


def test_tier_thresholds_strictly_increase() -> None:
    ladder_refused_at(
        [{"tier": "a", "min_lifetime_points": 10}, {"tier": "b", "min_lifetime_points": 10}],
        ("tiers", 1, "min_lifetime_points"),
    )
    ladder_refused_at(
        [{"tier": "a", "min_lifetime_points": 10}, {"tier": "b", "min_lifetime_points": 5}],
        ("tiers", 1, "min_lifetime_points"),
    )


def test_tier_names_are_unique() -> None:
    ladder_refused_at(
        [{"tier": "a", "min_lifetime_points": 1}, {"tier": "a", "min_lifetime_points": 2}],
        ("tiers", 1, "tier"),
    )


def test_tier_threshold_not_negative() -> None:
    ladder_refused_at(
        [{"tier": "a", "min_lifetime_points": -1}], ("tiers", 0, "min_lifetime_points")
    )


# --------------------------------------------------------------------------- catalogue and operands


def test_resolve_fact() -> None:
    amount = resolve_fact("data.amount", ["purchase"])
    assert amount is not None
    assert amount.kind is FactKind.NUMBER
    assert not amount.nullable
    renewal_amount = resolve_fact("data.amount", ["renewal"])
    assert renewal_amount is not None
    assert renewal_amount.nullable
    mixed = resolve_fact("data.amount", ["purchase", "review"])
    assert mixed is not None
    assert mixed.nullable
    assert resolve_fact("data.amount", ["review"]) is None
    badges = resolve_fact("customer.badges", [])
    assert badges is not None
    assert badges.kind is FactKind.STRING_LIST
    attr = resolve_fact("attributes.a.b", ["review"])
    assert attr is not None
    assert attr.kind is FactKind.ANY
    assert resolve_fact("customer.nope", ["purchase"]) is None


def test_fact_catalogue_lists_type_specific_fields() -> None:
    paths = {f.path for f in fact_catalogue(["feedback"])}
    assert {"data.survey", "data.score", "data.comment", "customer.tier", "time.hour"} <= paths
    assert "data.amount" not in paths
    assert "attributes.<name>" in paths
    assert "data.<name>" in {f.path for f in fact_catalogue(["signup"])}
    assert all(f.description for f in fact_catalogue())


def test_normalize_operand() -> None:
    amount = FactSpec("data.amount", FactKind.NUMBER, "")
    assert normalize_operand(amount, "gte", 49.99) == Decimal("49.99")
    assert normalize_operand(amount, "in", [1, 2.5]) == (1, Decimal("2.5"))
    signup = FactSpec("customer.signup_date", FactKind.DATE, "")
    assert normalize_operand(signup, "between", ["2026-01-01", "2026-01-31"]) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
    )
    with pytest.raises(OperandError) as caught:
        normalize_operand(amount, "contains", "x")
    assert caught.value.field == "op"


def test_action_models_can_be_built_directly() -> None:
    action = AwardPointsAction(type="award_points", per_unit=1.5, max_points=10)
    doc = RuleDocument(name="direct", types=["purchase"], actions=[action])
    assert doc.actions == [action]
