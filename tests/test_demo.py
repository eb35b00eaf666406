"""`reinforce demo` loads the starter programme and synthetic data, is safe to rerun, and
fills every metric."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from app.demo.history import synthetic_events
from app.rules.starter import STARTER_RULES
from tests.factories import purchase
from tests.gamification.helpers import as_expected, expected_standings
from tests.server import PROJECT_ROOT


def _demo(database_url: str, customers: int = 12) -> str:
    environment = {
        **os.environ,
        "REINFORCE_DATABASE_URL": database_url,
        "REINFORCE_LOG_LEVEL": "WARNING",
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "demo",
            "--customers",
            str(customers),
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


async def test_demo_twice_then_a_purchase_explains_itself(
    database_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = _demo(database_url)
    assert f"rules: {len(STARTER_RULES)} stored, 0 unchanged" in first
    assert "0 refused" in first
    ledger_before = await client.get("/v1/customers/demo-c001/ledger", headers=admin_headers)

    second = _demo(database_url)
    assert f"rules: 0 stored, {len(STARTER_RULES)} unchanged" in second
    assert "already loaded for 12 customers" in second
    ledger_after = await client.get("/v1/customers/demo-c001/ledger", headers=admin_headers)
    assert ledger_after.json() == ledger_before.json()

    larger = _demo(database_url, customers=20)
    assert "for 8 new customers (12 before)" in larger
    assert "0 refused" in larger
    listed = await client.get("/v1/customers?q=demo-c&limit=100", headers=admin_headers)
    ids = {c["id"] for c in listed.json()["items"]}
    assert {f"demo-c{i:03d}" for i in range(1, 21)} <= ids
    assert "demo-c021" not in ids
    ledger_after = await client.get("/v1/customers/demo-c001/ledger", headers=admin_headers)
    assert ledger_after.json() == ledger_before.json()

    rules = (await client.get("/v1/rules", headers=admin_headers)).json()
    expected_rules = [*(i for i, _ in STARTER_RULES), "demo-double-points"]
    assert sorted(r["id"] for r in rules["items"]) == sorted(expected_rules)
    # Each starter rule, the tier ladder and the experiment's treatment: a change each.
    assert rules["ruleset_version"] == len(STARTER_RULES) + 2

    response = await client.post(
        "/v1/events?explain=true", json=purchase("newcomer", amount="80"), headers=admin_headers
    )
    assert response.status_code == 201
    result = response.json()
    assert [(e["rule_id"], e["action"], e["points"]) for e in result["effects"]] == [
        ("first-purchase-bonus", "award_points", 50),
        ("first-purchase-bonus", "award_badge", None),
        ("first-purchase-bonus", "notify", None),
        ("points-per-purchase", "award_points", 80),
    ]
    reasons = {s["rule_id"]: s["reason"] for s in result["explain"]}
    assert set(reasons) == {
        "surprise-gift",
        "early-access",
        "gold-multiplier",
        "referral-welcome",
        "weekly-regular",
        "demo-double-points",
    }
    assert reasons["referral-welcome"] == (
        "none of: event.referred eq true was false (value false); "
        "data.referred_by exists true was false (missing)"
    )


async def test_the_demo_fills_every_metric_and_the_predictive_fit(
    database_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    output = _demo(database_url, customers=300)
    assert "0 refused" in output
    assert "predictive fit: stored" in output
    # The demo's own fit is stored: the value reports read it.
    stored = await client.get("/v1/reports/cltv-distribution", headers=admin_headers)
    assert stored.status_code == 200, stored.text
    assert sum(b["customers"] for b in stored.json()["bins"]) > 0
    await _the_experiment_ran_on_the_history(client, admin_headers, customers=300)

    # The metrics' windows end at the end of today: the fit stored for it is the summary's.
    today = {"to": datetime.now(UTC).date().isoformat()}
    fit = await client.post("/v1/metrics/cltv/fits", json=today, headers=admin_headers, timeout=120)
    assert fit.status_code == 201, fit.text

    summary = (await client.get("/v1/metrics", params=today, headers=admin_headers)).json()
    summary = summary["metrics"]
    assert set(summary) >= {"nps", "csat", "retention", "churn", "repeat-purchase-rate"}
    for name, metric in summary.items():
        assert metric is not None, name
        assert metric.get("reason") is None, (name, metric)
    for name, by in [("repeat-purchase-rate", "tier"), ("nps", "channel"), ("csat", "channel")]:
        response = await client.get(f"/v1/metrics/{name}", params={"by": by}, headers=admin_headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["groups"]) > 1, (name, by)
    year = {"from": (datetime.now(UTC) - timedelta(days=360)).date().isoformat()}
    cohorts = await client.get("/v1/metrics/cohorts", params=year, headers=admin_headers)
    assert len(cohorts.json()["cohorts"]) >= 12

    # NPS and CSAT answers are in the summary above; the rest of the behaviour is here.
    for kind in ("purchase", "refund", "review", "referral", "subscription", "renewal"):
        page = await client.get("/v1/events", params={"type": kind}, headers=admin_headers)
        assert page.json()["items"], kind
    # Referrals travel as codes: the pipeline derives the referrer's event from the code.
    referrals = await client.get(
        "/v1/events", params={"type": "referral", "limit": 100}, headers=admin_headers
    )
    assert any(e["id"].endswith(":referral") for e in referrals.json()["items"])
    # A small catalog, claimed from, with coupons used at checkout.
    catalog = (await client.get("/v1/rewards", headers=admin_headers)).json()["items"]
    assert len(catalog) == 3
    coupons = (await client.get("/v1/metrics/rewards", params=year, headers=admin_headers)).json()
    assert coupons["coupons"]["issued"] > 0
    assert coupons["coupons"]["used"] > 0
    redeemed = 0
    for index in range(1, 301, 10):
        points = await client.get(f"/v1/customers/demo-c{index:03d}", headers=admin_headers)
        redeemed += points.json()["points"]["redeemed"] > 0
    assert redeemed > 0


async def test_the_demo_shows_a_leaderboard_a_streak_and_a_challenge(
    database_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    _demo(database_url)
    # Last month's spend, summed here from the demo's own generated events.
    last_month = (anchor.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    contributions = [
        (b["customer_id"], Decimal(b["data"]["amount"]), datetime.fromisoformat(b["occurred_at"]))
        for b in synthetic_events(anchor, 1, 12)
        if b["type"] == "purchase" and b["occurred_at"].startswith(last_month)
    ]
    response = await client.get(
        "/v1/leaderboards/top-spenders/standings",
        params={"period": last_month},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert as_expected(response.json()["entries"]) == expected_standings(contributions)

    streaks = (await client.get("/v1/rules/streaks", headers=admin_headers)).json()["items"]
    assert [s["id"] for s in streaks] == ["weekly-purchase"]
    customer = (await client.get("/v1/customers/demo-c001", headers=admin_headers)).json()
    assert [s["streak_id"] for s in customer["streaks"]] == ["weekly-purchase"]
    challenges = await client.get("/v1/customers/demo-c001/challenges", headers=admin_headers)
    assert [c["challenge_id"] for c in challenges.json()["items"]] == ["three-reviews"]


async def _the_experiment_ran_on_the_history(
    client: httpx.AsyncClient, headers: dict[str, str], customers: int
) -> None:
    """The demo's experiment started eight weeks before the history's end; its audience is
    customers with two purchases or more, and only the double variant's points double."""
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    experiment = (await client.get("/v1/experiments/demo-double-points", headers=headers)).json()
    assert experiment["status"] == "running"
    started = datetime.fromisoformat(experiment["started_at"])
    assert started == anchor - timedelta(weeks=8)
    purchases: dict[str, list[datetime]] = {}
    for body in synthetic_events(anchor, 1, customers):
        if body["type"] == "purchase":
            when = datetime.fromisoformat(body["occurred_at"])
            purchases.setdefault(body["customer_id"], []).append(when)
    exposed = {"control": 0, "double": 0}
    treated = 0
    for index in range(1, 61):
        customer = f"demo-c{index:03d}"
        path = f"/v1/experiments/demo-double-points/assignments/{customer}"
        assignment = (await client.get(path, headers=headers)).json()
        ledger = await client.get(f"/v1/customers/{customer}/ledger?limit=100", headers=headers)
        assert ledger.status_code == 200, ledger.text
        doubled = [e for e in ledger.json()["items"] if e["rule_id"] == "demo-double-points"]
        if not assignment["exposed"]:
            assert not doubled, customer
            continue
        exposed_at = datetime.fromisoformat(assignment["exposed_at"])
        assert exposed_at >= started
        # In the audience: two purchases before the one that exposed them, at least.
        assert sum(when < exposed_at for when in purchases[customer]) >= 2, customer
        assert all(datetime.fromisoformat(e["occurred_at"]) >= exposed_at for e in doubled)
        # Any event can expose; the treatment doubles the purchases from then on.
        bought_since = any(when >= exposed_at for when in purchases[customer])
        assert bool(doubled) == (assignment["variant"] == "double" and bought_since), customer
        exposed[assignment["variant"]] += 1
        treated += bool(doubled)
    assert exposed["control"] > 0, exposed
    assert exposed["double"] > 0, exposed
    assert treated > 0
