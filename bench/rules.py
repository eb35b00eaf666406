"""Rules: the starter ruleset, and in-process evaluation of 50 rules against rule-engine."""

import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import rule_engine

from app.rules.engine import compile_ruleset, evaluate
from app.rules.facts import CustomerFacts, EventFacts
from app.rules.schemas import RuleDocument
from app.rules.starter import starter_rules as load_starter_rules
from app.rules.starter import starter_streaks, starter_tiers


def starter_rules() -> tuple[str, list[dict[str, Any]]]:
    """The starter programme's rules as ``POST /v1/rules`` bodies, and a label for the table."""
    documents = [
        {"id": rule_id, **document.model_dump(mode="json", by_alias=True, exclude_none=True)}
        for rule_id, document in load_starter_rules()
    ]
    return f"starter rules ({len(documents)} rules and tiers, app.rules.starter)", documents


def install_starter_rules(url: str, headers: dict[str, str]) -> str:
    """Store the starter streaks, rules and tier ladder through the API; answer what runs."""
    label, documents = starter_rules()
    for streak_id, streak in starter_streaks():
        response = httpx.put(
            f"{url}/v1/rules/streaks/{streak_id}",
            json=streak.model_dump(mode="json"),
            headers=headers,
            timeout=30,
        )
        if not response.is_success:
            raise RuntimeError(f"storing streak {streak_id} failed: {response.text}")
    for document in documents:
        response = httpx.post(f"{url}/v1/rules", json=document, headers=headers, timeout=30)
        if not response.is_success:
            raise RuntimeError(f"storing rule {document['id']} failed: {response.text}")
    tiers = starter_tiers().model_dump(mode="json")
    response = httpx.put(f"{url}/v1/rules/tiers", json=tiers, headers=headers, timeout=30)
    if not response.is_success:
        raise RuntimeError(f"storing the tier ladder failed: {response.text}")
    return label


# --------------------------------------------------------------------------- 50 rules

# Each rule is a list of (fact, op, value) comparisons, all of which must hold.
Comparison = tuple[str, str, Any]

_EXTRA: list[Comparison] = [
    ("customer.tier", "in", ["silver", "gold"]),
    ("event.channel", "eq", "web"),
    ("customer.purchase_count", "gte", 3),
    ("time.hour", "between", [8, 20]),
    ("attributes.store", "eq", "berlin"),
    ("data.currency", "eq", "EUR"),
    ("customer.lifetime_spend", "gt", 500),
    ("customer.referral_count", "gte", 1),
    ("customer.available_points", "lt", 1000),
    ("time.weekday", "in", [5, 6]),
]


def fifty_rules() -> list[list[Comparison]]:
    return [
        [("data.amount", "gte", 5 * i), _EXTRA[i % 10], _EXTRA[(i * 3 + 1) % 10]] for i in range(50)
    ]


def documents(rules: list[list[Comparison]]) -> list[tuple[str, RuleDocument]]:
    return [
        (
            f"r{i:02d}",
            RuleDocument.model_validate(
                {
                    "name": f"bench rule {i}",
                    "types": ["purchase"],
                    "conditions": {
                        "all": [{"fact": f, "op": op, "value": v} for f, op, v in comparisons]
                    },
                    "actions": [{"type": "award_points", "points": 1 + i}],
                }
            ),
        )
        for i, comparisons in enumerate(rules)
    ]


_SYMBOL = {
    "data.amount": "amount",
    "data.currency": "currency",
    "customer.tier": "tier",
    "event.channel": "channel",
    "customer.purchase_count": "purchase_count",
    "customer.lifetime_spend": "lifetime_spend",
    "customer.referral_count": "referral_count",
    "customer.available_points": "available_points",
    "time.hour": "hour",
    "time.weekday": "weekday",
    "attributes.store": "store",
}
_OPS = {"eq": "==", "gte": ">=", "gt": ">", "lt": "<"}


def rule_engine_expression(comparisons: list[Comparison]) -> str:
    """The same conditions in rule-engine's expression language."""
    parts = []
    for fact, op, value in comparisons:
        symbol = _SYMBOL[fact]
        if op == "in":
            parts.append(f"{symbol} in {json_list(value)}")
        elif op == "between":
            parts.append(f"({symbol} >= {value[0]} and {symbol} <= {value[1]})")
        else:
            literal = f'"{value}"' if isinstance(value, str) else str(value)
            parts.append(f"{symbol} {_OPS[op]} {literal}")
    return " and ".join(parts)


def json_list(values: list[Any]) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def sample_events(count: int) -> list[tuple[EventFacts, CustomerFacts]]:
    base = datetime(2026, 11, 20, 6, tzinfo=UTC)
    tiers = [None, "silver", "gold", "bronze"]
    out = []
    for n in range(count):
        out.append(
            (
                EventFacts(
                    type="purchase",
                    channel="web" if n % 3 else "app",
                    data={
                        "order_id": f"o{n}",
                        "amount": Decimal(n % 300) + Decimal("0.99"),
                        "currency": "EUR" if n % 5 else "USD",
                    },
                    attributes={"store": "berlin"} if n % 2 else {},
                    occurred_at=base + timedelta(minutes=37 * n),
                ),
                CustomerFacts(
                    purchase_count=n % 7,
                    lifetime_spend=Decimal(n % 1000),
                    tier=tiers[n % 4],
                    available_points=n % 2000,
                    referral_count=n % 3,
                ),
            )
        )
    return out


def _context(event: EventFacts, customer: CustomerFacts) -> dict[str, Any]:
    at = event.occurred_at
    return {
        "amount": event.data["amount"],
        "currency": event.data["currency"],
        "tier": customer.tier,
        "channel": event.channel,
        "purchase_count": customer.purchase_count,
        "lifetime_spend": customer.lifetime_spend,
        "referral_count": customer.referral_count,
        "available_points": customer.available_points,
        "hour": at.hour,
        "weekday": at.weekday(),
        "store": event.attributes.get("store"),
    }


PASSES = 5


def run(events: int = 20_000) -> dict[str, Any]:
    """Events/s through 50 rules: reinforce's compiled evaluator, then rule-engine."""
    rules = fifty_rules()
    ruleset = compile_ruleset(1, documents(rules))
    samples = sample_events(events)

    # One pass takes a fraction of a second, so one pass swings with whatever else the
    # machine does; the median of several is the figure.
    passes = []
    for _ in range(PASSES):
        started = time.perf_counter()
        ours = [evaluate(ruleset, e, c) for e, c in samples]
        passes.append(time.perf_counter() - started)
    ours_s = statistics.median(passes)

    context = rule_engine.Context(default_value=None)
    compiled = [rule_engine.Rule(rule_engine_expression(r), context=context) for r in rules]
    theirs_events = max(events // 10, 1)  # an order of magnitude slower: fewer events
    started = time.perf_counter()
    theirs = []
    for event, customer in samples[:theirs_events]:
        facts = _context(event, customer)
        theirs.append([i for i, rule in enumerate(compiled) if rule.matches(facts)])
    theirs_s = time.perf_counter() - started

    # Both engines must agree on which rules fire, or the comparison means nothing.
    disagreements = sum(
        1
        for outcome, fired in zip(ours, theirs, strict=False)
        if sorted(int(e.rule_id[1:]) for e in outcome.effects) != fired
    )
    return {
        "rules": len(rules),
        "reinforce_events_per_s": round(events / ours_s),
        "passes": PASSES,
        "rule_engine_events_per_s": round(theirs_events / theirs_s),
        "rule_engine_version": rule_engine.__version__,
        "compared_events": len(theirs),
        "disagreements": disagreements,
        "fired_per_event": round(sum(len(o.effects) for o in ours) / events, 2),
    }
