"""A rule that loses a limit race after evaluation takes its awards out of the multipliers too.

A race cannot be timed over HTTP, so these tests make the service read the limit usage of
a moment before a concurrent event consumed it: the evaluator then fires a rule whose budget
the database no longer has, which is exactly what a lost race looks like.
"""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.database import Database
from app.models import RuleBudget
from app.rules import service as rules
from app.rules.engine import Effect, compile_ruleset, evaluate
from app.rules.facts import CustomerFacts, EventFacts, LimitUsage
from app.rules.schemas import RuleDocument
from tests.conftest import make_settings
from tests.factories import purchase

Headers = dict[str, str]


async def _nothing_used(*args: Any, **kwargs: Any) -> LimitUsage:
    return LimitUsage({})


async def test_a_multiplier_applies_to_what_was_awarded_when_a_budget_race_is_lost(
    client: httpx.AsyncClient, admin_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    for body in (
        {"id": "base", "actions": [{"type": "award_points", "points": 7}], "priority": 1},
        {
            "id": "launch",
            "actions": [{"type": "award_points", "points": 10}],
            "limits": {"budget_points": 15},
            "priority": 2,
        },
        {"id": "boost", "actions": [{"type": "multiply_points", "factor": 1.5}], "priority": 3},
    ):
        rule = {"name": body["id"], "types": ["purchase"], **body}
        created = await client.post("/v1/rules", json=rule, headers=admin_headers)
        assert created.status_code == 201, created.text

    first = await client.post("/v1/events", json=purchase(customer="ann"), headers=admin_headers)
    # 7 + 10 = 17 awarded, times 1.5 is 25.5, floored to 25: 8 extra. launch has issued 10 of 15.
    assert [(e["rule_id"], e["points"]) for e in first.json()["effects"]] == [
        ("base", 7),
        ("launch", 10),
        ("boost", 8),
    ]

    monkeypatch.setattr(rules, "limit_usage", _nothing_used)
    second = await client.post("/v1/events", json=purchase(customer="bob"), headers=admin_headers)
    # launch fires on the stale usage but 10 more would exceed its 15: dropped. Only 7 is
    # awarded, times 1.5 is 10.5, floored to 10: 3 extra, not the 8 of the 17 evaluated.
    assert [(e["rule_id"], e["points"]) for e in second.json()["effects"]] == [
        ("base", 7),
        ("boost", 3),
    ]
    bob = (await client.get("/v1/customers/bob", headers=admin_headers)).json()
    assert bob["points"]["lifetime_earned"] == 10


def _rule(**fields: Any) -> RuleDocument:
    return RuleDocument.model_validate({"name": "rule", "types": ["purchase"], **fields})


async def test_a_multiplier_rule_gives_back_budget_it_took_on_a_dropped_award(
    database_url: str,
) -> None:
    ruleset = compile_ruleset(
        1,
        [
            ("base", _rule(actions=[{"type": "award_points", "points": 10}], priority=1)),
            (
                "m1",
                _rule(
                    actions=[{"type": "multiply_points", "factor": 2}],
                    limits={"budget_points": 100},
                    priority=2,
                ),
            ),
            (
                "m2",
                _rule(
                    actions=[
                        {"type": "award_points", "points": 10},
                        {"type": "multiply_points", "factor": 1.5},
                    ],
                    limits={"budget_points": 40},
                    priority=3,
                ),
            ),
        ],
    )
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    event = EventFacts(
        type="purchase", occurred_at=at, data={"order_id": "o", "amount": 5, "currency": "EUR"}
    )
    # Evaluated as if no budget were used: 10 + 10 = 20 awarded; m1 doubles it to 40 (20
    # extra), m2 takes the product to 3, 60 (20 extra); m2 asks 10 + 20 = 30 of its 40.
    outcome = evaluate(ruleset, event, CustomerFacts())
    assert [(e.rule_id, e.points) for e in outcome.effects] == [
        ("base", 10),
        ("m1", 20),
        ("m2", 10),
        ("m2", 20),
    ]
    database = Database.from_settings(make_settings(database_url))
    try:
        async with database.sessionmaker() as session, session.begin():
            # A concurrent event already took 20 of m2's 40.
            session.add(RuleBudget(rule_id="m2", issued=20))
        async with database.sessionmaker() as session, session.begin():
            effects, dropped = await rules.consume_limits(session, ruleset, outcome, "cat", at)
        async with database.sessionmaker() as session:
            result = await session.execute(select(RuleBudget.rule_id, RuleBudget.issued))
            issued = {row.rule_id: row.issued for row in result}
    finally:
        await database.dispose()
    # m1 took 20 before m2 lost (20 + 30 > 40); without m2 only base's 10 is awarded, which m1
    # doubles with 10 extra, so m1 gives back the other 10.
    assert [d.rule_id for d in dropped] == ["m2"]
    assert effects == [
        Effect("base", "rule", "award_points", points=10),
        Effect("m1", "rule", "multiply_points", points=10, factor=outcome.effects[1].factor),
    ]
    assert issued == {"m1": 10, "m2": 20}
