"""`reinforce demo` loads the starter programme and synthetic data, and is safe to rerun."""

import os
import subprocess
import sys

import httpx

from app.rules.starter import STARTER_RULES
from tests.factories import purchase
from tests.server import PROJECT_ROOT


def _demo(database_url: str) -> str:
    environment = {
        **os.environ,
        "REINFORCE_DATABASE_URL": database_url,
        "REINFORCE_LOG_LEVEL": "WARNING",
    }
    completed = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "demo", "--customers", "12"],
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
    assert "already loaded" in second
    ledger_after = await client.get("/v1/customers/demo-c001/ledger", headers=admin_headers)
    assert ledger_after.json() == ledger_before.json()

    rules = (await client.get("/v1/rules", headers=admin_headers)).json()
    assert sorted(r["id"] for r in rules["items"]) == sorted(i for i, _ in STARTER_RULES)
    # Each starter rule and the tier ladder were one change each.
    assert rules["ruleset_version"] == len(STARTER_RULES) + 1

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
    assert set(reasons) == {"surprise-gift", "early-access", "gold-multiplier", "weekly-regular"}
