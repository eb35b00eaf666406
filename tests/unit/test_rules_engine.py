"""Behaviour of the compiled rules engine. Expected values are worked out by hand in each test."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules.engine import (
    Effect,
    Outcome,
    RuleError,
    SkippedRule,
    compile_ruleset,
    evaluate,
)
from app.rules.facts import (
    EVENT_TYPES,
    NO_USAGE,
    CustomerFacts,
    EventFacts,
    LimitUsage,
    RuleUsage,
)
from app.rules.limits import period_key
from app.rules.schemas import RuleDocument, TierLadder
from app.rules.tiers import tier_for_points

# Wednesday 25 November 2026, 15:30 UTC: weekday 2, hour 15.
AT = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
NOBODY = CustomerFacts()


def doc(**fields: Any) -> RuleDocument:
    base: dict[str, Any] = {
        "name": "rule",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "points": 10}],
    }
    base.update(fields)
    return RuleDocument.model_validate(base)


def event(event_type: str, data: Any = None, **fields: Any) -> EventFacts:
    return EventFacts(type=event_type, occurred_at=AT, data=data or {}, **fields)


def purchase(amount: Any = Decimal(20), **fields: Any) -> EventFacts:
    data = {"order_id": "o-1", "amount": amount, "currency": "EUR"}
    return EventFacts(type="purchase", occurred_at=fields.pop("at", AT), data=data, **fields)


def run(
    rules: Mapping[str, RuleDocument] | RuleDocument,
    event: EventFacts | None = None,
    customer: CustomerFacts = NOBODY,
    usage: LimitUsage = NO_USAGE,
    *,
    explain: bool = True,
) -> Outcome:
    pairs = [("r", rules)] if isinstance(rules, RuleDocument) else list(rules.items())
    ruleset = compile_ruleset(7, pairs)
    return evaluate(ruleset, event or purchase(), customer, usage, explain=explain)


def fires(condition: dict[str, Any], event: EventFacts | None = None, **kw: Any) -> bool:
    types = [event.type] if event is not None else ["purchase"]
    outcome = run(doc(types=types, conditions=condition), event, **kw)
    assert outcome.errors == []
    return outcome.fired == ["r"]


def award(rule_id: str, points: int, name: str = "rule") -> Effect:
    return Effect(rule_id, name, "award_points", points=points)


# --------------------------------------------------------------------------- operators


def test_eq() -> None:
    cond = {"fact": "customer.tier", "op": "eq", "value": "gold"}
    assert fires(cond, customer=CustomerFacts(tier="gold"))
    assert not fires(cond, customer=CustomerFacts(tier="silver"))
    assert not fires(cond, customer=CustomerFacts(tier=None))


def test_ne_is_false_for_a_missing_fact() -> None:
    cond = {"fact": "event.channel", "op": "ne", "value": "pos"}
    assert fires(cond, purchase(channel="web"))
    assert not fires(cond, purchase(channel="pos"))
    assert not fires(cond, purchase(channel=None))


def test_gt() -> None:
    cond = {"fact": "data.amount", "op": "gt", "value": 50}
    assert fires(cond, purchase(Decimal("50.01")))
    assert not fires(cond, purchase(Decimal(50)))


def test_gte_reads_floats_as_their_decimal_text() -> None:
    cond = {"fact": "data.amount", "op": "gte", "value": 49.99}
    # float 49.99 is 49.9899999... in binary; it must still meet a 49.99 threshold.
    assert fires(cond, purchase(49.99))
    assert fires(cond, purchase(50))
    assert not fires(cond, purchase(Decimal("49.98")))


def test_lt_with_nullable_fact() -> None:
    cond = {"fact": "customer.days_since_last_purchase", "op": "lt", "value": 30}
    assert fires(cond, customer=CustomerFacts(days_since_last_purchase=29))
    assert not fires(cond, customer=CustomerFacts(days_since_last_purchase=30))
    assert not fires(cond, customer=CustomerFacts(days_since_last_purchase=None))


def test_lte_on_utc_hour() -> None:
    cond = {"fact": "time.hour", "op": "lte", "value": 15}
    assert fires(cond)  # 15:30 UTC
    # 17:30 at +02:00 is 15:30 UTC.
    tz = timezone(timedelta(hours=2))
    assert fires(cond, purchase(at=datetime(2026, 11, 25, 17, 30, tzinfo=tz)))
    assert not fires(cond, purchase(at=datetime(2026, 11, 25, 16, 0, tzinfo=UTC)))


def test_in_on_weekday() -> None:
    weekend = {"fact": "time.weekday", "op": "in", "value": [5, 6]}
    assert not fires(weekend)  # Wednesday
    assert fires(weekend, purchase(at=datetime(2026, 11, 28, tzinfo=UTC)))  # Saturday


def test_in_on_a_list_fact_means_any_overlap() -> None:
    cond = {"fact": "customer.badges", "op": "in", "value": ["vip", "ambassador"]}
    assert fires(cond, customer=CustomerFacts(badges=frozenset({"early", "vip"})))
    assert not fires(cond, customer=CustomerFacts(badges=frozenset({"early"})))


def test_not_in() -> None:
    cond = {"fact": "customer.tier", "op": "not_in", "value": ["gold", "platinum"]}
    assert fires(cond, customer=CustomerFacts(tier="silver"))
    assert not fires(cond, customer=CustomerFacts(tier="gold"))
    assert not fires(cond, customer=CustomerFacts(tier=None))


def test_not_in_on_a_list_fact_means_no_overlap() -> None:
    cond = {"fact": "customer.badges", "op": "not_in", "value": ["banned"]}
    assert fires(cond, customer=CustomerFacts(badges=frozenset({"vip"})))
    assert not fires(cond, customer=CustomerFacts(badges=frozenset({"vip", "banned"})))


def test_contains_on_string_and_list() -> None:
    review = event("review", {"rating": 5, "text": "I love this mug"})
    assert fires({"fact": "data.text", "op": "contains", "value": "love"}, review)
    assert not fires({"fact": "data.text", "op": "contains", "value": "hate"}, review)
    badge = {"fact": "customer.badges", "op": "contains", "value": "vip"}
    assert fires(badge, customer=CustomerFacts(badges=frozenset({"vip"})))
    assert not fires(badge, customer=CustomerFacts(badges=frozenset()))


def test_between_is_inclusive() -> None:
    cond = {"fact": "data.amount", "op": "between", "value": [10, 20]}
    assert fires(cond, purchase(Decimal(10)))
    assert fires(cond, purchase(Decimal(20)))
    assert not fires(cond, purchase(Decimal("20.01")))
    assert not fires(cond, purchase(Decimal("9.99")))


def test_exists() -> None:
    has_tier = {"fact": "customer.tier", "op": "exists", "value": True}
    no_tier = {"fact": "customer.tier", "op": "exists", "value": False}
    assert fires(has_tier, customer=CustomerFacts(tier="gold"))
    assert not fires(has_tier)
    assert fires(no_tier)
    assert not fires(no_tier, customer=CustomerFacts(tier="gold"))


def test_dates_and_datetimes() -> None:
    early = CustomerFacts(signup_date=date(2025, 12, 31))
    assert fires(
        {"fact": "customer.signup_date", "op": "lt", "value": "2026-01-01"}, customer=early
    )
    # 2026-11-25T16:00+01:00 is 15:00 UTC, before the event's 15:30 UTC.
    cond = {"fact": "event.occurred_at", "op": "gte", "value": "2026-11-25T16:00:00+01:00"}
    assert fires(cond)
    cond = {"fact": "event.occurred_at", "op": "gte", "value": "2026-11-25T17:00:00+01:00"}
    assert not fires(cond)


def test_attributes_nested_and_untyped() -> None:
    event = purchase(attributes={"profile": {"age": 30}, "vip": True, "segment": "b2b"})
    assert fires({"fact": "attributes.profile.age", "op": "gte", "value": 18}, event)
    assert fires({"fact": "attributes.vip", "op": "eq", "value": True}, event)
    # Untyped equality does not confuse true with 1.
    assert not fires({"fact": "attributes.vip", "op": "eq", "value": 1}, event)
    assert fires({"fact": "attributes.segment", "op": "in", "value": ["b2b", "b2g"]}, event)
    assert not fires({"fact": "attributes.missing", "op": "eq", "value": "x"}, event)


def test_free_form_data() -> None:
    signup = event("signup", {"source": "instagram"})
    assert fires({"fact": "data.source", "op": "eq", "value": "instagram"}, signup)
    assert fires({"fact": "data.campaign", "op": "exists", "value": False}, signup)


def test_all_any_not() -> None:
    gold = CustomerFacts(tier="gold")
    tree = {
        "all": [
            {"fact": "data.amount", "op": "gte", "value": 10},
            {
                "any": [
                    {"fact": "customer.tier", "op": "eq", "value": "gold"},
                    {"fact": "customer.purchase_count", "op": "eq", "value": 0},
                ]
            },
            {"not": {"fact": "event.channel", "op": "eq", "value": "pos"}},
        ]
    }
    assert fires(tree, customer=gold)
    assert fires(tree, customer=CustomerFacts(purchase_count=0))  # second alternative
    assert not fires(tree, customer=CustomerFacts(purchase_count=3))
    assert not fires(tree, purchase(channel="pos"), customer=gold)
    assert not fires(tree, purchase(Decimal(5)), customer=gold)


def test_no_conditions_always_fires() -> None:
    assert run(doc()).fired == ["r"]


# --------------------------------------------------------------------------- actions


def test_award_fixed_points() -> None:
    outcome = run(doc(actions=[{"type": "award_points", "points": 50}]))
    assert outcome.effects == [award("r", 50)]
    assert outcome.points == 50
    assert outcome.ruleset_version == 7


def per_unit(amount: str, **action: Any) -> int | None:
    outcome = run(doc(actions=[{"type": "award_points", **action}]), purchase(Decimal(amount)))
    assert outcome.errors == []
    return outcome.effects[0].points if outcome.effects else None


def test_award_per_unit_floors_by_default() -> None:
    # 19.99 * 1 * 2 = 39.98 -> 39
    assert per_unit("19.99", per_unit=1, multiplier=2) == 39
    # 0.1 point per unit: 123.45 * 0.1 = 12.345 -> 12
    assert per_unit("123.45", per_unit=0.1) == 12


def test_award_rounding_nearest_rounds_halves_up() -> None:
    assert per_unit("19.75", per_unit=1, multiplier=2, rounding="nearest") == 40  # 39.5
    assert per_unit("19.70", per_unit=1, multiplier=2, rounding="nearest") == 39  # 39.4


def test_award_rounding_ceil() -> None:
    assert per_unit("19.01", per_unit=1, rounding="ceil") == 20
    assert per_unit("19.00", per_unit=1, rounding="ceil") == 19


def test_award_round_to_step() -> None:
    assert per_unit("47", per_unit=1, round_to=10) == 40  # floor(4.7) * 10
    assert per_unit("45", per_unit=1, round_to=10, rounding="nearest") == 50  # 4.5 -> 5
    assert per_unit("44.99", per_unit=1, round_to=10, rounding="nearest") == 40
    assert per_unit("41", per_unit=1, round_to=10, rounding="ceil") == 50


def test_award_max_points_caps_after_rounding() -> None:
    assert per_unit("500", per_unit=1, max_points=100) == 100
    assert per_unit("99", per_unit=1, max_points=100) == 99


def test_award_of_another_number_fact() -> None:
    rule = doc(
        types=["review"], actions=[{"type": "award_points", "per_unit": 10, "of": "data.rating"}]
    )
    outcome = run(rule, event("review", {"rating": 4}))
    assert outcome.effects == [award("r", 40)]


def test_award_of_zero_points_is_omitted_but_the_rule_fired() -> None:
    outcome = run(doc(actions=[{"type": "award_points", "per_unit": 1}]), purchase(Decimal("0.5")))
    assert outcome.effects == []
    assert outcome.fired == ["r"]


def test_multiply_points_carries_the_extra_points() -> None:
    rules = {
        "base": doc(name="base", actions=[{"type": "award_points", "points": 100}]),
        "boost": doc(name="boost", actions=[{"type": "multiply_points", "factor": 1.5}]),
    }
    outcome = run(rules)
    assert outcome.effects == [
        award("base", 100, "base"),
        Effect("boost", "boost", "multiply_points", points=50, factor=Decimal("1.5")),
    ]
    assert outcome.points == 150


def test_multipliers_combine_multiplicatively_over_all_priorities() -> None:
    rules = {
        # The multipliers run first, yet still multiply the later award.
        "m1": doc(name="m1", priority=1, actions=[{"type": "multiply_points", "factor": 1.5}]),
        "m2": doc(name="m2", priority=2, actions=[{"type": "multiply_points", "factor": 2}]),
        "a": doc(name="a", priority=50, actions=[{"type": "award_points", "points": 33}]),
        "b": doc(name="b", priority=60, actions=[{"type": "award_points", "per_unit": 1}]),
    }
    # base = 33 + floor(7.9) = 40; x1.5 -> 60 (+20); x2 -> floor(40 * 3) = 120 (+60)
    outcome = run(rules, purchase(Decimal("7.9")))
    assert [(e.rule_id, e.points) for e in outcome.effects] == [
        ("m1", 20),
        ("m2", 60),
        ("a", 33),
        ("b", 7),
    ]
    assert outcome.points == 120


def test_multiplier_extras_add_up_to_the_floored_total() -> None:
    rules = {
        "a": doc(name="a", actions=[{"type": "award_points", "points": 33}]),
        "m1": doc(name="m1", actions=[{"type": "multiply_points", "factor": 1.5}]),
        "m2": doc(name="m2", actions=[{"type": "multiply_points", "factor": 2}]),
    }
    # 33 * 1.5 = 49.5 -> 49 (+16); 33 * 3 = 99 (+50): the total is floor(99), not 2 * 49.
    outcome = run(rules)
    assert [(e.rule_id, e.points) for e in outcome.effects] == [("a", 33), ("m1", 16), ("m2", 50)]


def test_multiplier_with_nothing_to_multiply_leaves_no_effect() -> None:
    rule = doc(types=["review"], actions=[{"type": "multiply_points", "factor": 2}])
    outcome = run(rule, event("review", {"rating": 5}))
    assert outcome.effects == []
    assert outcome.fired == ["r"]


def test_award_badge_set_tier_and_notify() -> None:
    rule = doc(
        name="welcome",
        actions=[
            {"type": "award_badge", "badge": "first-purchase"},
            {"type": "set_tier", "tier": "silver"},
            {"type": "notify", "notification": "thank_you", "template": "tpl-1"},
            {"type": "notify", "notification": "surprise_gift"},
        ],
    )
    assert run(rule).effects == [
        Effect("r", "welcome", "award_badge", badge="first-purchase"),
        Effect("r", "welcome", "set_tier", tier="silver"),
        Effect("r", "welcome", "notify", notification="thank_you", template="tpl-1"),
        Effect("r", "welcome", "notify", notification="surprise_gift"),
    ]


def test_grant_perk_expiry() -> None:
    rule = doc(
        actions=[
            {"type": "grant_perk", "perk": "early_access", "expires_in_days": 30},
            {"type": "grant_perk", "perk": "free_shipping"},
        ]
    )
    tz = timezone(timedelta(hours=-5))
    at = datetime(2026, 11, 25, 10, 0, tzinfo=tz)
    first, second = run(rule, purchase(at=at)).effects
    assert first.perk == "early_access"
    assert first.perk_expires_at == datetime(2026, 12, 25, 15, 0, tzinfo=UTC)
    assert second == Effect("r", "rule", "grant_perk", perk="free_shipping")


# --------------------------------------------------------------------------- order and stop


def test_rules_run_by_priority_then_id() -> None:
    rules = {
        "b": doc(name="b", priority=10),
        "a": doc(name="a", priority=20),
        "c": doc(name="c", priority=10),
        "default": doc(name="default"),  # priority 100
    }
    assert run(rules).fired == ["b", "c", "a", "default"]


def test_stop_skips_lower_priority_rules_only() -> None:
    rules = {
        "stopper": doc(name="stopper", priority=10, stop=True),
        "twin": doc(name="twin", priority=10),  # same priority, sorted after "stopper"
        "later": doc(name="later", priority=20),
    }
    outcome = run(rules)
    assert outcome.fired == ["stopper", "twin"]
    assert outcome.skipped == [
        SkippedRule("later", "later", "not evaluated: stopped by rule stopper")
    ]


def test_stop_applies_only_when_the_rule_fires() -> None:
    rules = {
        "stopper": doc(
            name="stopper",
            priority=10,
            stop=True,
            conditions={"fact": "data.amount", "op": "gt", "value": 100},
        ),
        "later": doc(name="later", priority=20),
    }
    assert run(rules).fired == ["later"]


def test_disabled_rules_are_not_compiled() -> None:
    ruleset = compile_ruleset(1, [("on", doc()), ("off", doc(enabled=False))])
    assert "on" in ruleset
    assert "off" not in ruleset
    assert [r.rule_id for r in ruleset.rules_for("purchase")] == ["on"]
    assert [r.rule_id for r in ruleset.rules] == ["on"]
    assert len(ruleset) == 1


def test_rules_only_see_their_event_types() -> None:
    rules = {"p": doc(), "r": doc(types=["review"])}
    assert run(rules).fired == ["p"]


def test_duplicate_rule_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        compile_ruleset(1, [("x", doc()), ("x", doc())])


# --------------------------------------------------------------------------- window and limits


def test_active_window_from_inclusive_until_exclusive() -> None:
    rule = doc(active_from="2026-11-25T15:30:00Z", active_until="2026-11-26T00:00:00Z")
    assert run(rule).fired == ["r"]
    assert run(rule, purchase(at=AT - timedelta(seconds=1))).skipped == [
        SkippedRule("r", "rule", "outside active window")
    ]
    late = run(rule, purchase(at=datetime(2026, 11, 26, tzinfo=UTC)))
    assert late.skipped == [SkippedRule("r", "rule", "outside active window")]


def test_per_customer_limit_reached() -> None:
    rule = doc(limits={"per_customer": {"count": 1, "period": "lifetime"}})
    used = LimitUsage({"r": RuleUsage(fired_in_period=1)})
    outcome = run(rule, usage=used)
    assert outcome.effects == []
    assert outcome.skipped == [SkippedRule("r", "rule", "limit reached: 1 per lifetime")]
    assert run(rule, usage=LimitUsage({"r": RuleUsage(fired_in_period=0)})).fired == ["r"]


def test_per_customer_limit_below_count_fires() -> None:
    rule = doc(limits={"per_customer": {"count": 3, "period": "week"}})
    assert run(rule, usage=LimitUsage({"r": RuleUsage(fired_in_period=2)})).fired == ["r"]
    outcome = run(rule, usage=LimitUsage({"r": RuleUsage(fired_in_period=3)}))
    assert outcome.skipped == [SkippedRule("r", "rule", "limit reached: 3 per week")]


def test_budget_must_cover_the_whole_award() -> None:
    rule = doc(limits={"budget_points": 100})
    assert run(rule, usage=LimitUsage({"r": RuleUsage(points_issued=90)})).fired == ["r"]
    outcome = run(rule, usage=LimitUsage({"r": RuleUsage(points_issued=95)}))
    assert outcome.effects == []
    assert outcome.skipped == [SkippedRule("r", "rule", "budget exhausted")]


def test_spent_budget_stops_non_point_rules_too() -> None:
    rule = doc(actions=[{"type": "award_badge", "badge": "x"}], limits={"budget_points": 10})
    outcome = run(rule, usage=LimitUsage({"r": RuleUsage(points_issued=10)}))
    assert outcome.skipped == [SkippedRule("r", "rule", "budget exhausted")]


def test_multiplier_budget_covers_its_extra_points() -> None:
    rules = {
        "base": doc(name="base", actions=[{"type": "award_points", "points": 100}]),
        "boost": doc(
            name="boost",
            actions=[{"type": "multiply_points", "factor": 2}],
            limits={"budget_points": 1000},
        ),
    }
    # The boost would add 100 points but only 1000 - 950 = 50 are left.
    outcome = run(rules, usage=LimitUsage({"boost": RuleUsage(points_issued=950)}))
    assert outcome.effects == [award("base", 100, "base")]
    assert outcome.fired == ["base"]
    assert outcome.skipped == [SkippedRule("boost", "boost", "budget exhausted")]
    ok = run(rules, usage=LimitUsage({"boost": RuleUsage(points_issued=900)}))
    assert [(e.rule_id, e.points) for e in ok.effects] == [("base", 100), ("boost", 100)]


def test_limits_are_reachable_from_the_ruleset() -> None:
    rule = doc(limits={"per_customer": {"count": 2, "period": "month"}, "budget_points": 500})
    compiled = compile_ruleset(1, [("r", rule)]).rule("r")
    assert compiled.limits is not None
    assert compiled.limits.budget_points == 500
    assert compiled.limits.per_customer is not None
    assert (compiled.limits.per_customer.count, compiled.limits.per_customer.period) == (
        2,
        "month",
    )


def test_period_key() -> None:
    assert period_key("lifetime", AT) == "lifetime"
    assert period_key("day", AT) == "2026-11-25"
    assert period_key("week", datetime(2026, 11, 23, tzinfo=UTC)) == "2026-W48"
    # 1 January 2027 is a Friday, so it belongs to the last ISO week of 2026 (which has 53).
    assert period_key("week", datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    assert period_key("month", AT) == "2026-11"
    # 23:30 at -02:00 is already 1 December in UTC.
    late = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert period_key("day", late) == "2026-12-01"
    assert period_key("month", late) == "2026-12"
    assert period_key("day", datetime(2026, 11, 30, 23, 30)) == "2026-11-30"  # naive = UTC


def test_tier_for_points() -> None:
    ladder = TierLadder.model_validate(
        {
            "tiers": [
                {"tier": "silver", "min_lifetime_points": 1000},
                {"tier": "gold", "min_lifetime_points": 5000},
            ]
        }
    )
    assert tier_for_points(ladder, 0) is None
    assert tier_for_points(ladder, 999) is None
    assert tier_for_points(ladder, 1000) == "silver"
    assert tier_for_points(ladder, 4999) == "silver"
    assert tier_for_points(ladder, 5000) == "gold"
    assert tier_for_points(ladder, 10**9) == "gold"
    assert tier_for_points(TierLadder(tiers=[]), 10) is None


# --------------------------------------------------------------------------- explain


def test_explain_reports_the_first_failed_condition() -> None:
    rule = doc(
        conditions={
            "all": [
                {"fact": "data.currency", "op": "eq", "value": "EUR"},
                {"fact": "data.amount", "op": "gte", "value": 50},
                {"fact": "customer.tier", "op": "eq", "value": "gold"},
            ]
        }
    )
    outcome = run(rule, purchase(Decimal(20)))
    assert outcome.skipped == [SkippedRule("r", "rule", "data.amount gte 50 was false (value 20)")]


def test_explain_missing_fact() -> None:
    rule = doc(conditions={"fact": "customer.tier", "op": "eq", "value": "gold"})
    assert run(rule).skipped == [
        SkippedRule("r", "rule", 'customer.tier eq "gold" was false (missing)')
    ]


def test_explain_any_and_not() -> None:
    rule = doc(
        conditions={
            "any": [
                {"fact": "customer.tier", "op": "eq", "value": "gold"},
                {"not": {"fact": "customer.purchase_count", "op": "lt", "value": 5}},
            ]
        }
    )
    reason = (
        'none of: customer.tier eq "gold" was false (value "silver"); '
        "not (customer.purchase_count lt 5 was true (value 2))"
    )
    customer = CustomerFacts(tier="silver", purchase_count=2)
    assert run(rule, customer=customer).skipped == [SkippedRule("r", "rule", reason)]


def test_explain_off_reports_no_skips_and_same_effects() -> None:
    rules = {
        "no": doc(conditions={"fact": "data.amount", "op": "gt", "value": 1000}),
        "yes": doc(name="yes"),
    }
    quiet = run(rules, explain=False)
    loud = run(rules, explain=True)
    assert quiet.skipped == []
    assert len(loud.skipped) == 1
    assert quiet.effects == loud.effects == [award("yes", 10, "yes")]


# --------------------------------------------------------------------------- runtime errors


def test_a_failing_rule_is_reported_and_the_event_still_scores() -> None:
    rules = {
        "broken": doc(
            name="broken",
            priority=1,
            conditions={"fact": "attributes.basket", "op": "gt", "value": 10},
        ),
        "fine": doc(name="fine", priority=2),
    }
    outcome = run(rules, purchase(attributes={"basket": "lots"}))
    message = 'cannot evaluate attributes.basket gt 10: the fact is a string (value "lots")'
    assert outcome.errors == [RuleError("broken", message)]
    assert outcome.skipped == [SkippedRule("broken", "broken", f"error: {message}")]
    assert outcome.effects == [award("fine", 10, "fine")]


def test_missing_award_source_is_an_error_not_a_crash() -> None:
    rule = doc(types=["renewal"], actions=[{"type": "award_points", "per_unit": 1}])
    outcome = run(rule, event("renewal", {"subscription_id": "s-1"}))
    assert outcome.errors == [RuleError("r", "award_points: data.amount is missing")]
    assert outcome.effects == []
    assert outcome.fired == []


def test_wrongly_typed_award_source_is_an_error() -> None:
    rule = doc(actions=[{"type": "award_points", "per_unit": 1}])
    outcome = run(rule, purchase("12.50"))
    assert outcome.errors == [
        RuleError("r", 'award_points: data.amount is not a number (a string: "12.50")')
    ]


def test_garbage_facts_never_raise() -> None:
    rule = doc(
        conditions={"fact": "data.amount", "op": "gt", "value": 1},
        actions=[{"type": "award_points", "per_unit": 1}],
    )
    garbage = EventFacts(type="purchase", occurred_at=AT, data=None)  # type: ignore[arg-type]
    outcome = run(rule, garbage)
    assert [e.rule_id for e in outcome.errors] == ["r"]
    unhashable = EventFacts(type=["purchase"], occurred_at=AT)  # type: ignore[arg-type]
    assert run(rule, unhashable).effects == []


def test_naive_occurred_at_is_read_as_utc() -> None:
    cond = {"fact": "time.hour", "op": "eq", "value": 15}
    assert fires(cond, purchase(at=datetime(2026, 11, 25, 15, 30)))


# --------------------------------------------------------------------------- property test

NUMBER_FACTS = ["data.amount", "customer.lifetime_spend", "attributes.score"]
INT_FACTS = ["customer.purchase_count", "time.hour", "time.weekday", "customer.referral_count"]
STRING_FACTS = ["customer.tier", "event.channel", "data.currency"]

numbers = st.one_of(
    st.integers(-1000, 1000),
    st.decimals(min_value=-1000, max_value=1000, places=2),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3), numbers, st.floats()
)


@st.composite
def comparisons(draw: st.DrawFn) -> dict[str, Any]:
    family = draw(
        st.sampled_from(["number", "integer", "string", "badges", "exists", "date", "untyped"])
    )
    if family == "untyped":
        op = draw(st.sampled_from(["eq", "ne", "in", "not_in", "contains"]))
        value = draw(st.sampled_from([True, False, 1, 0, "x"]))
        if op == "contains":
            value = "x"
        listed = op in ("in", "not_in")
        return {"fact": "attributes.flag", "op": op, "value": [value] if listed else value}
    if family == "exists":
        fact = draw(st.sampled_from(NUMBER_FACTS + STRING_FACTS + ["attributes.flag"]))
        return {"fact": fact, "op": "exists", "value": draw(st.booleans())}
    if family == "badges":
        op = draw(st.sampled_from(["contains", "in", "not_in"]))
        value: Any = draw(st.sampled_from(["a", "b"]))
        return {
            "fact": "customer.badges",
            "op": op,
            "value": [value] if op != "contains" else value,
        }
    if family == "date":
        op = draw(st.sampled_from(["lt", "gte", "eq"]))
        return {"fact": "customer.signup_date", "op": op, "value": "2026-01-01"}
    if family == "string":
        fact = draw(st.sampled_from(STRING_FACTS))
        op = draw(st.sampled_from(["eq", "ne", "in", "not_in", "contains"]))
        text = draw(st.sampled_from(["gold", "web", "EUR", "x"]))
        return {"fact": fact, "op": op, "value": [text] if op in ("in", "not_in") else text}
    fact = draw(st.sampled_from(NUMBER_FACTS if family == "number" else INT_FACTS))
    op = draw(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between"]))
    a = draw(st.integers(-10, 200))
    b = draw(st.integers(-10, 200))
    if op == "between":
        return {"fact": fact, "op": op, "value": [min(a, b), max(a, b)]}
    if op in ("in", "not_in"):
        return {"fact": fact, "op": op, "value": [a, b]}
    return {"fact": fact, "op": op, "value": a}


conditions = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)

actions = st.one_of(
    st.builds(lambda p: {"type": "award_points", "points": p}, st.integers(1, 500)),
    st.fixed_dictionaries(
        {
            "type": st.just("award_points"),
            "per_unit": st.sampled_from([0.1, 1, 2.5]),
            "rounding": st.sampled_from(["floor", "nearest", "ceil"]),
            "round_to": st.sampled_from([1, 5, 10]),
            "of": st.sampled_from(["data.amount", "attributes.score"]),
        },
        optional={"max_points": st.integers(1, 300), "multiplier": st.sampled_from([0.5, 3])},
    ),
    st.builds(lambda f: {"type": "multiply_points", "factor": f}, st.sampled_from([1, 1.5, 2])),
    st.just({"type": "award_badge", "badge": "b"}),
    st.just({"type": "grant_perk", "perk": "p", "expires_in_days": 3}),
    st.just({"type": "notify", "notification": "thank_you"}),
)

rule_docs = st.builds(
    lambda cond, acts, prio, stop, limit, budget: RuleDocument.model_validate(
        {
            "name": "generated",
            "types": ["purchase", "signup"],
            "conditions": cond,
            "actions": acts,
            "priority": prio,
            "stop": stop,
            "limits": {
                "per_customer": {"count": limit, "period": "day"} if limit else None,
                "budget_points": budget,
            },
        }
    ),
    st.one_of(st.none(), conditions),
    st.lists(actions, min_size=1, max_size=3),
    st.integers(0, 3),
    st.booleans(),
    st.sampled_from([None, 1, 2]),
    st.sampled_from([None, 50, 1000]),
)

events = st.builds(
    lambda t, amount, attrs, channel, at: EventFacts(
        type=t,
        occurred_at=at,
        data={"amount": amount, "currency": "EUR"} if amount is not None else {},
        attributes=attrs,
        channel=channel,
    ),
    st.sampled_from(["purchase", "signup", "review"]),
    st.one_of(st.none(), numbers, st.floats(), st.text(max_size=3)),
    st.dictionaries(st.sampled_from(["score", "flag"]), json_scalars, max_size=2),
    st.sampled_from([None, "web", "pos"]),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5))])),
)

customers = st.builds(
    CustomerFacts,
    purchase_count=st.integers(0, 20),
    lifetime_spend=st.decimals(min_value=0, max_value=10_000, places=2),
    days_since_last_purchase=st.one_of(st.none(), st.integers(0, 400)),
    tier=st.sampled_from([None, "gold", "silver"]),
    badges=st.frozensets(st.sampled_from(["a", "b", "c"])),
    signup_date=st.one_of(st.none(), st.dates()),
)

usages = st.builds(
    lambda counts: LimitUsage(
        {f"r{i}": RuleUsage(fired_in_period=c, points_issued=c * 30) for i, c in enumerate(counts)}
    ),
    st.lists(st.integers(0, 3), max_size=5),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(rule_docs, min_size=1, max_size=5),
    events,
    customers,
    usages,
    st.booleans(),
)
def test_evaluate_is_deterministic_and_never_raises(
    docs: list[RuleDocument],
    event: EventFacts,
    customer: CustomerFacts,
    usage: LimitUsage,
    explain: bool,
) -> None:
    ruleset = compile_ruleset(3, [(f"r{i}", d) for i, d in enumerate(docs)])
    first = evaluate(ruleset, event, customer, usage, explain=explain)
    second = evaluate(ruleset, event, customer, usage, explain=explain)
    assert first == second
    again = evaluate(
        compile_ruleset(3, [(f"r{i}", d) for i, d in enumerate(docs)]), event, customer, usage
    )
    assert again.effects == first.effects
    assert again.errors == first.errors
    assert all(e.points != 0 for e in first.effects)
    assert {e.rule_id for e in first.effects} <= set(first.fired)


def closures_only(ruleset: Any) -> Any:
    """The ruleset without its generated functions: evaluate() then runs the closures."""
    ruleset._held.clear()
    return ruleset


# The generated fast path (non-explain evaluate) must agree exactly with the closures it
# stands in for: evaluate() falls back to them when a ruleset has no generated function.

json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["a", "b"]), inner)
    ),
    max_leaves=3,
)

# Windows and events in the same few days, so that events fall on both sides of them.
SOON = {"min_value": datetime(2026, 11, 20), "max_value": datetime(2026, 11, 27)}

windowed_docs = st.builds(
    lambda d, start, shape: d.model_copy(
        update={
            "active_from": start if shape != "until" else None,
            "active_until": start + timedelta(days=2) if shape != "from" else None,
        }
    ),
    rule_docs,
    st.datetimes(timezones=st.just(UTC), **SOON),
    st.sampled_from(["from", "until", "both"]),
)

rough_events = st.builds(
    lambda t, data, attrs, channel, at: EventFacts(
        type=t, occurred_at=at, data=data, attributes=attrs, channel=channel
    ),
    st.sampled_from(["purchase", "signup", "review"]),
    st.dictionaries(st.sampled_from(["amount", "currency", "order_id"]), json_values),
    st.dictionaries(st.sampled_from(["score", "flag"]), json_values, max_size=2),
    st.sampled_from([None, "web", "pos", 3]),
    st.one_of(
        st.datetimes(**SOON),  # naive: read as UTC
        st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))]), **SOON),
    ),
)

rough_customers = st.builds(
    CustomerFacts,
    purchase_count=st.one_of(st.integers(0, 20), st.just("3")),
    lifetime_spend=st.one_of(st.decimals(min_value=0, max_value=500, places=2), st.floats()),
    tier=st.sampled_from([None, "gold", "silver", 1]),
    badges=st.frozensets(st.sampled_from(["a", "b", "c"])),
    signup_date=st.one_of(st.none(), st.dates(), st.just("2026-01-01")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(rule_docs, windowed_docs), min_size=1, max_size=6),
    st.one_of(events, rough_events),
    st.one_of(customers, rough_customers),
    usages,
)
def test_generated_fast_path_matches_the_rule_by_rule_closures(
    docs: list[RuleDocument],
    event: EventFacts,
    customer: CustomerFacts,
    usage: LimitUsage,
) -> None:
    pairs = [(f"r{i}", d) for i, d in enumerate(docs)]
    expected = evaluate(closures_only(compile_ruleset(3, pairs)), event, customer, usage)
    assert evaluate(compile_ruleset(3, pairs), event, customer, usage) == expected


ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 5, 23, Decimal(5), Decimal("4.99"), Decimal("NaN"),
    Decimal("-Infinity"), 5.0, 4.99, float("nan"), float("inf"), "5", "x", "web", "gold", "",
    [], ["a"], ("a", "b"), frozenset({"a"}), {"a": 1}, date(2026, 1, 1),
    datetime(2026, 11, 25, 15, 30), AT, AT.astimezone(timezone(timedelta(hours=-3))),
]  # fmt: skip
OPERANDS: list[Any] = [
    5, 4.99, 0, True, False, 1, "x", "web", "a", "2026-01-01", "2026-11-25T15:30:00Z",
    [5, 23], [0, 1], [True], ["a", "x"], ["web", "gold"], ["2026-01-01", "2026-12-31"],
    ["2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"],
]  # fmt: skip
OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "between", "exists"]


def placed(fact: str, value: Any) -> tuple[EventFacts, CustomerFacts]:
    """An event and customer whose ``fact`` reads ``value`` (the rest is ordinary)."""
    head, _, name = fact.partition(".")
    data: dict[str, Any] = {"order_id": "o-1", "amount": Decimal(20), "currency": "EUR"}
    if head == "data":
        data[name] = value
    attributes = {name: value} if head == "attributes" else {}
    customer = CustomerFacts(**{name: value}) if head == "customer" else NOBODY
    return (
        EventFacts(
            type="purchase",
            occurred_at=value if head in ("time", "event") and name != "channel" else AT,
            channel=value if fact == "event.channel" else "web",
            data=data,
            attributes=attributes,
        ),
        customer,
    )


@pytest.mark.parametrize(
    "fact",
    [
        "data.amount",
        "data.currency",
        "attributes.flag",
        "event.channel",
        "event.occurred_at",
        "time.hour",
        "customer.purchase_count",
        "customer.lifetime_spend",
        "customer.tier",
        "customer.badges",
        "customer.signup_date",
    ],
)
def test_fast_path_agrees_on_every_operator_and_odd_fact_value(fact: str) -> None:
    checked = 0
    for op in OPS:
        for operand in [*OPERANDS, None] if op == "exists" else OPERANDS:
            if op == "exists" and operand not in (True, False):
                continue
            try:
                rule = doc(conditions={"fact": fact, "op": op, "value": operand})
            except ValueError:  # pydantic's ValidationError: not a valid comparison
                continue
            fast = compile_ruleset(1, [("r", rule)])
            slow = closures_only(compile_ruleset(1, [("r", rule)]))
            for value in ODD_VALUES:
                event, customer = placed(fact, value)
                expected = evaluate(slow, event, customer)
                assert evaluate(fast, event, customer) == expected, (op, operand, value)
                checked += 1
    assert checked > 100


def test_fast_path_agrees_at_window_edges() -> None:
    start, end = AT, AT + timedelta(days=1)
    rules = [
        ("both", doc(active_from=start.isoformat(), active_until=end.isoformat())),
        ("from", doc(active_from=start.isoformat())),
        ("until", doc(active_until=end.isoformat())),
    ]
    fast = compile_ruleset(1, rules)
    slow = closures_only(compile_ruleset(1, rules))
    tick = timedelta(microseconds=1)
    for edge in (start, end):
        for at in (edge - tick, edge, edge + tick):
            for moment in (
                at,
                at.replace(tzinfo=None),
                at.astimezone(timezone(timedelta(hours=5))),
            ):
                event = purchase(at=moment)
                assert evaluate(fast, event, NOBODY) == evaluate(slow, event, NOBODY), moment
    assert evaluate(fast, purchase(at=start), NOBODY).fired == ["both", "from", "until"]
    assert evaluate(fast, purchase(at=end), NOBODY).fired == ["from"]


def test_fast_path_reports_a_failing_rule_like_the_closures() -> None:
    rules = {
        "a": doc(name="a", priority=1, conditions={"fact": "data.amount", "op": "gt", "value": 5}),
        "b": doc(
            name="b",
            priority=2,
            conditions={"fact": "attributes.basket", "op": "gt", "value": 10},
        ),
        "c": doc(name="c", priority=3, conditions={"fact": "data.amount", "op": "lt", "value": 5}),
    }
    outcome = run(rules, purchase(attributes={"basket": "lots"}), explain=False)
    message = 'cannot evaluate attributes.basket gt 10: the fact is a string (value "lots")'
    assert outcome.errors == [RuleError("b", message)]
    assert outcome.fired == ["a"]
    assert outcome.effects == [award("a", 10, "a")]


def test_every_event_type_is_accepted() -> None:
    for event_type in EVENT_TYPES:
        outcome = run(doc(types=[event_type]), event(event_type))
        assert outcome.fired == ["r"], event_type
