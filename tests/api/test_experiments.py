"""Experiments over HTTP: the lifecycle, assignment, exposure in the pipeline, and results
checked against references computed here with scipy from the events the tests post.

The assignment reference is the documented hash, computed here with hashlib.
"""

import hashlib
import math
import random
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import pytest
from scipy import stats

from tests.api.test_metrics import Headers, ingest
from tests.factories import event, purchase, refund

TOLERANCE = 1e-9


def bucket(salt: str, customer: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{customer}".encode()).digest()[:8]) % 10_000


def assigned(salt: str, customer: str, variants: list[tuple[str, int]]) -> str:
    slot, edge = bucket(salt, customer), 0
    for name, weight in variants:
        edge += weight * 100
        if slot < edge:
            return name
    raise AssertionError("weights do not cover the buckets")


def experiment(
    id_: str = "double", variants: list[tuple[str, int]] | None = None, **extra: Any
) -> dict[str, Any]:
    pairs = variants or [("control", 50), ("double", 50)]
    return {
        "id": id_,
        "name": "Double points",
        "variants": [{"id": v, "weight": w} for v, w in pairs],
        "salt": f"salt-{id_}",
        **extra,
    }


async def post(
    client: httpx.AsyncClient, headers: Headers, path: str, body: Any = None, status: int = 200
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def started(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> datetime:
    await post(client, headers, "/v1/experiments", body, 201)
    out = await post(client, headers, f"/v1/experiments/{body['id']}/start")
    assert out["status"] == "running"
    return datetime.fromisoformat(out["started_at"])


def dated(body: dict[str, Any], at: datetime) -> dict[str, Any]:
    body["occurred_at"] = at.isoformat()
    return body


async def test_lifecycle_and_validation(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    bad = [
        {"variants": [{"id": "a", "weight": 60}, {"id": "b", "weight": 30}]},
        {"variants": [{"id": "a", "weight": 99}]},
        {"variants": [{"id": f"v{i}", "weight": 16} for i in range(5)]
         + [{"id": "v5", "weight": 20}]},
        {"variants": [{"id": "a", "weight": 50}, {"id": "a", "weight": 50}]},
        {"primary_metric": "happiness"},
    ]  # fmt: skip
    for change in bad:
        response = await client.post(
            "/v1/experiments", json={**experiment(), **change}, headers=admin_headers
        )
        assert response.status_code == 422, change
    unknown = await client.post(
        "/v1/experiments", json=experiment(segment_id="nope"), headers=admin_headers
    )
    assert unknown.status_code == 404
    assert (await client.get("/v1/experiments", headers=admin_headers)).json()["items"] == []
    created = await post(client, admin_headers, "/v1/experiments", experiment(), 201)
    assert created["status"] == "draft"
    assert created["variants"][0] == {"id": "control", "weight": 50}
    again = await client.post("/v1/experiments", json=experiment(), headers=admin_headers)
    assert again.status_code == 409
    stop = await client.post("/v1/experiments/double/stop", headers=admin_headers)
    assert stop.status_code == 409
    patched = await client.patch(
        "/v1/experiments/double",
        json={"variants": [{"id": "control", "weight": 20}, {"id": "double", "weight": 80}]},
        headers=admin_headers,
    )
    assert patched.json()["variants"][1]["weight"] == 80
    await post(client, admin_headers, "/v1/experiments/double/start")
    again = await client.post("/v1/experiments/double/start", headers=admin_headers)
    assert again.status_code == 409
    frozen = await client.patch(
        "/v1/experiments/double", json={"salt": "other"}, headers=admin_headers
    )
    assert frozen.status_code == 409
    renamed = await client.patch(
        "/v1/experiments/double", json={"name": "2x"}, headers=admin_headers
    )
    assert renamed.json()["name"] == "2x"
    stopped = await post(client, admin_headers, "/v1/experiments/double/stop")
    assert stopped["status"] == "stopped"
    assert stopped["stopped_at"] is not None
    missing = await client.get("/v1/experiments/nope", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("experiment-not-found")


async def test_assignment_is_the_documented_hash_and_sticky(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    variants = [("control", 34), ("a", 33), ("b", 33)]
    await post(client, admin_headers, "/v1/experiments", experiment(variants=variants), 201)
    for i in range(40):
        who = f"shopper-{i}"
        answers = [
            (
                await client.get(f"/v1/experiments/double/assignments/{who}", headers=admin_headers)
            ).json()
            for _ in range(2)
        ]
        assert answers[0] == answers[1]
        assert answers[0]["variant"] == assigned("salt-double", who, variants)
        assert answers[0]["bucket"] == bucket("salt-double", who)
        assert answers[0]["exposed"] is False


async def test_exposure_is_recorded_once_by_the_first_event_after_the_start(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(client, admin_headers, purchase("early", "10"))
    at = await started(client, admin_headers, experiment())
    # Before the start (backfilled history) exposes no one.
    await ingest(client, admin_headers, dated(purchase("early", "5"), at - timedelta(hours=1)))
    first = dated(purchase("early", "20"), at + timedelta(microseconds=1))
    await ingest(
        client,
        admin_headers,
        first,
        dated(event("review", "early", rating=5), at + timedelta(microseconds=2)),
    )
    await ingest(
        client, admin_headers, dated(purchase("early", "7"), at + timedelta(microseconds=3))
    )
    newcomer = dated(event("signup", "newcomer"), at + timedelta(microseconds=4))
    await ingest(client, admin_headers, newcomer)
    early = (
        await client.get("/v1/experiments/double/assignments/early", headers=admin_headers)
    ).json()
    assert early["exposed"] is True
    assert early["exposure_event_id"] == first["id"]
    assert datetime.fromisoformat(early["exposed_at"]) == at + timedelta(microseconds=1)
    assert early["variant"] == assigned("salt-double", "early", [("control", 50), ("double", 50)])
    new = (
        await client.get("/v1/experiments/double/assignments/newcomer", headers=admin_headers)
    ).json()
    assert new["exposure_event_id"] == newcomer["id"]
    results = (await client.get("/v1/experiments/double/results", headers=admin_headers)).json()
    assert sum(v["exposed"] for v in results["variants"]) == 2
    # Stopped, it exposes no one else.
    await post(client, admin_headers, "/v1/experiments/double/stop")
    await ingest(client, admin_headers, dated(purchase("late", "3"), at + timedelta(seconds=1)))
    late = (
        await client.get("/v1/experiments/double/assignments/late", headers=admin_headers)
    ).json()
    assert late["exposed"] is False


async def test_an_audience_segment_limits_who_is_exposed(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(client, admin_headers, purchase("big", "200"), purchase("small", "5"))
    segment = {
        "id": "big-spenders",
        "name": "Big spenders",
        "condition": {"fact": "customer.lifetime_spend", "op": "gte", "value": 100},
    }
    await post(client, admin_headers, "/v1/segments", segment, 201)
    at = await started(client, admin_headers, experiment(segment_id="big-spenders"))
    await ingest(
        client,
        admin_headers,
        dated(purchase("big", "1"), at + timedelta(microseconds=1)),
        dated(purchase("small", "1"), at + timedelta(microseconds=1)),
        dated(purchase("stranger", "1"), at + timedelta(microseconds=1)),
    )
    exposed = {
        who: (
            await client.get(f"/v1/experiments/double/assignments/{who}", headers=admin_headers)
        ).json()["exposed"]
        for who in ("big", "small", "stranger")
    }
    assert exposed == {"big": True, "small": False, "stranger": False}
    in_use = await client.delete("/v1/segments/big-spenders", headers=admin_headers)
    assert in_use.status_code == 409


async def test_weights_hold_over_ten_thousand_customers(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    variants = [("control", 20), ("a", 30), ("b", 50)]
    at = await started(client, admin_headers, experiment(variants=variants))
    customers = [f"c{i:05d}" for i in range(10_000)]
    for start in range(0, len(customers), 1000):
        batch = [
            dated(event("signup", who), at + timedelta(microseconds=1))
            for who in customers[start : start + 1000]
        ]
        await ingest(client, admin_headers, *batch)
    results = (await client.get("/v1/experiments/double/results", headers=admin_headers)).json()
    counts = {v["variant"]: v["exposed"] for v in results["variants"]}
    expected = Counter(assigned("salt-double", who, variants) for who in customers)
    assert counts == dict(expected)
    assert sum(counts.values()) == 10_000
    for name, weight in variants:
        share = weight / 100
        sd = math.sqrt(share * (1 - share) / 10_000)
        # Within four standard errors of the weight.
        assert abs(counts[name] / 10_000 - share) < 4 * sd, (name, counts)
    reference = stats.chisquare(
        [counts[n] for n, _ in variants], f_exp=[10_000 * w / 100 for _, w in variants]
    ).pvalue
    assert results["sample_ratio"]["p_value"] == pytest.approx(reference, abs=TOLERANCE)
    assert results["sample_ratio"]["mismatch"] is False


async def test_a_skewed_exposure_is_flagged(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    variants = [("control", 50), ("double", 50)]
    at = await started(client, admin_headers, experiment(variants=variants))
    customers = [f"s{i:04d}" for i in range(1200)]
    # As a broken integration might: only a third of the treatment's customers get through.
    posted = [
        who
        for i, who in enumerate(customers)
        if assigned("salt-double", who, variants) == "control" or i % 3 == 0
    ]
    batch = [dated(event("signup", who), at + timedelta(microseconds=1)) for who in posted]
    for start in range(0, len(batch), 1000):
        await ingest(client, admin_headers, *batch[start : start + 1000])
    results = (await client.get("/v1/experiments/double/results", headers=admin_headers)).json()
    counts = [v["exposed"] for v in results["variants"]]
    reference = stats.chisquare(counts, f_exp=[sum(counts) / 2] * 2).pvalue
    assert reference < 0.001
    assert results["sample_ratio"]["p_value"] == pytest.approx(reference, abs=TOLERANCE)
    assert results["sample_ratio"]["mismatch"] is True


# --------------------------------------------------------------------------- results


def welch(a: list[float], b: list[float]) -> dict[str, float | None]:
    """The reference for a mean: scipy's Welch test and the Welch-Satterthwaite interval."""
    ma, mb = float(np.mean(a)), float(np.mean(b))
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    return {
        "value": mb,
        "difference": mb - ma,
        "relative_difference": (mb - ma) / ma if ma else None,
        "ci_low": mb - ma - half,
        "ci_high": mb - ma + half,
        "p_value": float(stats.ttest_ind(b, a, equal_var=False).pvalue),
    }


def z_test(a: list[float], b: list[float]) -> dict[str, float | None]:
    xa, xb, na, nb = sum(a), sum(b), len(a), len(b)
    pa, pb = xa / na, xb / nb
    pooled = (xa + xb) / (na + nb)
    z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    half = stats.norm.ppf(0.975) * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    return {
        "value": pb,
        "difference": pb - pa,
        "relative_difference": (pb - pa) / pa if pa else None,
        "ci_low": pb - pa - half,
        "ci_high": pb - pa + half,
        "p_value": float(2 * stats.norm.sf(abs(z))),
    }


def cuped(a: tuple[list[float], list[float]], b: tuple[list[float], list[float]]) -> Any:
    y = np.array(a[0] + b[0])
    x = np.array(a[1] + b[1])
    theta = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    centre = x.mean()

    def adjust(arm: tuple[list[float], list[float]]) -> list[float]:
        return list(np.array(arm[0]) - theta * (np.array(arm[1]) - centre))

    return welch(adjust(a), adjust(b))


def same(got: dict[str, Any], want: dict[str, Any], where: Any) -> None:
    for key, value in want.items():
        if value is None:
            assert got[key] is None, (where, key)
        else:
            assert got[key] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE), (where, key)


async def test_results_equal_the_scipy_references(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    rule = {
        "id": "points",
        "name": "A point per euro",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "per_unit": 1}],
    }
    assert (await client.post("/v1/rules", json=rule, headers=admin_headers)).status_code == 201
    rng = random.Random(7)
    customers = [f"r{i:03d}" for i in range(160)]
    now = datetime.now().astimezone()
    pre: dict[str, list[Decimal]] = {who: [] for who in customers}
    history = []
    for who in customers:
        for _ in range(rng.randint(0, 3)):
            amount = Decimal(rng.randint(100, 9000)) / 100
            pre[who].append(amount)
            history.append(
                dated(purchase(who, str(amount)), now - timedelta(days=rng.randint(1, 25)))
            )
        # Outside the pre-period: not the covariate.
        history.append(dated(purchase(who, "500"), now - timedelta(days=40)))
    await ingest(client, admin_headers, *history)
    variants = [("control", 50), ("double", 30), ("triple", 20)]
    at = await started(
        client, admin_headers, experiment(variants=variants, point_value=0.05, pre_period_days=30)
    )
    tick = iter(range(1, 100_000))
    during: dict[str, dict[str, Any]] = {}
    events = []
    for who in customers:
        arm = assigned("salt-double", who, variants)
        lift = {"control": 0, "double": 1, "triple": 2}[arm]
        seen: dict[str, Any] = {"orders": [], "refunds": [], "referrals": 0, "renewals": 0}
        for _ in range(rng.randint(0, 2 + lift)):
            amount = Decimal(rng.randint(100, 12_000)) / 100
            body = dated(purchase(who, str(amount)), at + timedelta(microseconds=next(tick)))
            events.append(body)
            seen["orders"].append((body["data"]["order_id"], amount))
        if seen["orders"] and rng.random() < 0.2:
            order, amount = seen["orders"][0]
            part = (amount / 2).quantize(Decimal("0.01"))
            events.append(
                dated(refund(order, str(part), who), at + timedelta(microseconds=next(tick)))
            )
            seen["refunds"].append(part)
        if rng.random() < 0.1 + 0.1 * lift:
            events.append(
                dated(
                    event("referral", who, referred_customer_id=f"friend-{who}"),
                    at + timedelta(microseconds=next(tick)),
                )
            )
            seen["referrals"] += 1
        if rng.random() < 0.15:
            events.append(
                dated(
                    event("renewal", who, subscription_id=f"sub-{who}"),
                    at + timedelta(microseconds=next(tick)),
                )
            )
            seen["renewals"] += 1
        if not seen["orders"] and not seen["referrals"] and not seen["renewals"]:
            # Exposed all the same, by an event that measures nothing.
            events.append(dated(event("signup", who), at + timedelta(microseconds=next(tick))))
        during[who] = {"arm": arm, **seen}
    for start in range(0, len(events), 500):
        await ingest(client, admin_headers, *events[start : start + 500])
    await post(client, admin_headers, "/v1/experiments/double/stop")
    response = await client.get("/v1/experiments/double/results", headers=admin_headers)
    assert response.status_code == 200, response.text
    results = response.json()

    def values(who: str) -> dict[str, float]:
        seen = during[who]
        revenue = float(sum(a for _, a in seen["orders"])) - float(sum(seen["refunds"]))
        points = sum(math.floor(a) for _, a in seen["orders"])
        return {
            "repeat_purchase_rate": float(len(seen["orders"]) >= 2),
            "retention": float(bool(seen["orders"]) or seen["renewals"] > 0),
            "referral_rate": float(seen["referrals"] > 0),
            "revenue_per_customer": revenue,
            "orders_per_customer": float(len(seen["orders"])),
            "points_cost_per_customer": float(points),
            "net_revenue_per_customer": revenue - points * 0.05,
        }

    arms: dict[str, list[str]] = {name: [] for name, _ in variants}
    for who in customers:
        arms[during[who]["arm"]].append(who)
    covariate = {who: float(sum(pre[who])) for who in customers}
    control = arms["control"]
    assert [v["exposed"] for v in results["variants"]] == [len(arms[n]) for n, _ in variants]
    reference_srm = stats.chisquare(
        [len(arms[n]) for n, _ in variants], f_exp=[len(customers) * w / 100 for _, w in variants]
    ).pvalue
    assert results["sample_ratio"]["p_value"] == pytest.approx(reference_srm, abs=TOLERANCE)
    for answer in results["variants"][1:]:
        arm = arms[answer["variant"]]
        by_metric = {m["metric"]: m for m in answer["metrics"]}
        assert len(by_metric) == 7
        for metric, got in by_metric.items():
            a = [values(who)[metric] for who in control]
            b = [values(who)[metric] for who in arm]
            if got["kind"] == "proportion":
                same(got["estimate"], z_test(a, b), (answer["variant"], metric))
                assert got["estimate"]["method"] == "two-proportion z-test"
                continue
            same(got["estimate"], welch(a, b), (answer["variant"], metric))
            assert got["estimate"]["method"] == "welch t-test"
            adjusted = cuped((a, [covariate[w] for w in control]), (b, [covariate[w] for w in arm]))
            same(got["cuped"], adjusted, (answer["variant"], metric, "cuped"))
    control_answer = {m["metric"]: m for m in results["variants"][0]["metrics"]}
    revenue = [values(who)["revenue_per_customer"] for who in control]
    assert control_answer["revenue_per_customer"]["estimate"]["value"] == pytest.approx(
        float(np.mean(revenue)), rel=TOLERANCE
    )
    assert control_answer["revenue_per_customer"]["estimate"]["difference"] == pytest.approx(0)


async def test_variant_scoped_rules_and_what_the_control_would_have_had(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    base = {
        "id": "base",
        "name": "A point per euro",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "per_unit": 1}],
    }
    double = {
        "id": "double-points",
        "name": "Double points",
        "types": ["purchase"],
        "actions": [{"type": "multiply_points", "factor": 2}],
        "experiment": {"id": "double", "variant": "double"},
    }
    assert (await client.post("/v1/rules", json=base, headers=admin_headers)).status_code == 201
    early = await client.post("/v1/rules", json=double, headers=admin_headers)
    assert early.status_code == 422
    assert early.json()["type"].endswith("unknown-experiment-variant")
    variants = [("control", 50), ("double", 50)]
    at = await started(client, admin_headers, experiment(variants=variants))
    assert (await client.post("/v1/rules", json=double, headers=admin_headers)).status_code == 201
    rng = random.Random(3)
    customers = [f"d{i:02d}" for i in range(30)]
    tick = iter(range(1, 10_000))
    expected: dict[str, int] = {}
    for who in customers:
        arm = assigned("salt-double", who, variants)
        expected[who] = 0
        for _ in range(2):
            amount = Decimal(rng.randint(100, 9000)) / 100
            body = dated(purchase(who, str(amount)), at + timedelta(microseconds=next(tick)))
            response = await client.post("/v1/events", json=body, headers=admin_headers)
            assert response.status_code == 201, response.text
            answer = response.json()
            earned = sum(e["points"] or 0 for e in answer["effects"])
            base_points = math.floor(amount)
            if arm == "double":
                assert earned == 2 * base_points
                assert answer.get("would_have") is None
            else:
                # Judged as if the treatment did not exist, and its cost recorded.
                assert earned == base_points
                assert [(w["variant"], w["points"]) for w in answer["would_have"]] == [
                    ("double", base_points)
                ]
                assert answer["would_have"][0]["effects"][0]["action"] == "multiply_points"
                expected[who] += base_points
    for who in customers:
        got = (
            await client.get(f"/v1/experiments/double/assignments/{who}", headers=admin_headers)
        ).json()
        if expected[who]:
            assert got["would_have"] == {"double": {"points": expected[who], "effects": 2}}
        else:
            assert got["would_have"] == {}
    results = (await client.get("/v1/experiments/double/results", headers=admin_headers)).json()
    control = [who for who in customers if assigned("salt-double", who, variants) == "control"]
    per_customer = results["variants"][0]["would_have_points_per_customer"]
    assert per_customer["double"] == pytest.approx(sum(expected.values()) / len(control))
    assert results["variants"][1]["would_have_points_per_customer"] == {}
    # Stopped, the treatment ends for everyone.
    await post(client, admin_headers, "/v1/experiments/double/stop")
    treated = next(who for who in customers if who not in control)
    body = dated(purchase(treated, "10"), at + timedelta(microseconds=next(tick)))
    after = (await client.post("/v1/events", json=body, headers=admin_headers)).json()
    assert sum(e["points"] or 0 for e in after["effects"]) == 10
    # A backtest replays the treatment as if everyone were in its variant.
    window = {"from": (at - timedelta(days=1)).isoformat(), "to": at.isoformat()}
    history = [dated(purchase(f"h{i}", str(10 + i)), at - timedelta(hours=2)) for i in range(5)]
    await ingest(client, admin_headers, *history)
    draft = {**window, "rules": [base, double]}
    plain = await post(client, admin_headers, "/v1/rules/backtest", draft)
    treated_backtest = await post(
        client,
        admin_headers,
        "/v1/rules/backtest",
        {**draft, "experiment": {"id": "double", "variant": "double"}},
    )
    assert plain["points_would_issue"] == sum(10 + i for i in range(5))
    assert treated_backtest["points_would_issue"] == 2 * sum(10 + i for i in range(5))


async def test_exposures_are_exported_and_erased_with_the_customer(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    at = await started(client, admin_headers, experiment())
    first = dated(purchase("gdpr", "10"), at + timedelta(microseconds=1))
    await ingest(client, admin_headers, first)
    exported = (await client.get("/v1/customers/gdpr/export", headers=admin_headers)).json()
    assert [(e["experiment_id"], e["event_id"]) for e in exported["experiments"]] == [
        ("double", first["id"])
    ]
    erased = (await client.delete("/v1/customers/gdpr", headers=admin_headers)).json()
    assert erased["records"]["experiment_exposures"] == 1
    after = (
        await client.get("/v1/experiments/double/assignments/gdpr", headers=admin_headers)
    ).json()
    assert after["exposed"] is False
    results = (await client.get("/v1/experiments/double/results", headers=admin_headers)).json()
    # Still counted, under the pseudonym: the results over past windows do not change.
    assert sum(v["exposed"] for v in results["variants"]) == 1
