"""The registry and its segment hook: every metric restricted to a set of customers counts
those customers alone.

``?segment=`` does not exist yet; the hook it will use is ``Scope.customers``, which every
metric whose entry says ``segments = True`` applies to each of its queries. These tests
pass a literal set and a subquery through it and compare each metric with the same
history posted for the chosen customers alone.
"""

from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.metrics import service
from app.metrics.periods import Period, resolve
from app.metrics.plan import Scope
from app.metrics.queries.common import By, CustomerFilter, for_aggregates
from app.metrics.registry import REGISTRY, MetricName, PredictiveCltv, metric
from app.metrics.schemas import SummaryMetrics
from app.models import Customer
from app.models.base import utcnow
from tests.api.test_metrics import Headers, answer, at, ingest
from tests.factories import event, purchase


def test_the_registry_holds_every_metric_once() -> None:
    assert {(m.name, m.method) for m in REGISTRY} == {
        *((name, None) for name in MetricName if name is not MetricName.cltv),
        (MetricName.cltv, "historical"),
        (MetricName.cltv, "predictive"),
    }
    assert len(REGISTRY) == len({(m.name, m.method) for m in REGISTRY})
    # The summary answers one field per registry entry, by the entry's summary key, and the
    # catalog's figures and the liability, which have no series or breakdowns.
    fields = {field.alias or name for name, field in SummaryMetrics.model_fields.items()}
    assert fields == {m.summary_key for m in REGISTRY} | {"rewards", "liability"}
    # Only the predictive fit, one model over every customer, cannot take a segment yet.
    assert [m for m in REGISTRY if not m.segments] == [metric(MetricName.cltv, "predictive")]
    assert isinstance(metric(MetricName.cltv, "predictive"), PredictiveCltv)
    assert By.channel in metric(MetricName.nps).breakdowns
    assert By.channel not in metric(MetricName.retention).breakdowns


def history(customers: list[str], offset: int = 0) -> list[dict[str, Any]]:
    """The same activity for each customer, shifted by ``offset`` days per customer."""
    events = []
    for i, who in enumerate(customers):
        day = 2 + (i * offset) % 20
        events += [
            at(purchase(who, amount=str(10 + 5 * i)), f"2026-01-{day:02d}"),
            at(purchase(who, amount="20"), f"2026-02-{day:02d}"),
            at(answer(who, "nps", [10, 3, 8, 9][i % 4]), f"2026-02-{day:02d}"),
            at(answer(who, "csat", [5, 2, 4, 1][i % 4]), f"2026-02-{day:02d}"),
        ]
        if i % 2:
            events.append(at(purchase(who, amount="7"), f"2026-02-{day + 1:02d}"))
            events.append(
                at(event("referral", who, referred_customer_id=f"new-{who}"), "2026-02-25")
            )
    return events


WINDOW = {"from": "2026-02-01", "to": "2026-02-28"}
ASKED: list[tuple[MetricName, str, dict[str, Any]]] = [
    (MetricName.nps, "historical", {}),
    (MetricName.csat, "historical", {}),
    (MetricName.retention, "historical", {"activity_days": 45}),
    (MetricName.churn, "historical", {"activity_days": 45}),
    (MetricName.repeat_purchase_rate, "historical", {}),
    (MetricName.referral_rate, "historical", {}),
    (MetricName.cltv, "historical", {"lifespan_years": 2}),
    (MetricName.cohorts, "historical", {"from": "2026-01-01"}),
    (MetricName.retention, "historical", {"interval": "week"}),
    (MetricName.cltv, "historical", {"interval": "week", "lifespan_years": 1}),
    (MetricName.nps, "historical", {"by": "tier"}),
]


async def restricted(
    app: FastAPI, name: MetricName, method: str, params: dict[str, Any], ids: CustomerFilter
) -> dict[str, Any]:
    params = {**WINDOW, **params}
    window = resolve(date.fromisoformat(params["from"]), date.fromisoformat(params["to"]), utcnow())
    interval = params.get("interval")
    by = params.get("by")
    scope = Scope(
        window,
        by=None if by is None else By(by),
        activity_days=params.get("activity_days", 90),
        lifespan_years=params.get("lifespan_years"),
        customers=ids,
    )
    database = app.state.database
    async with database.read_sessionmaker() as session:
        for_aggregates(session)
        out = await service.answer(
            metric(name, method),
            scope,
            None if interval is None else Period(interval),
            database,
            session,
        )
    body: dict[str, Any] = out.model_dump(mode="json", by_alias=True)
    return body


async def over_http(
    client: httpx.AsyncClient, headers: Headers, name: MetricName, params: dict[str, Any]
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/metrics/{name.value}", params={**WINDOW, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("as_subquery", [False, True])
async def test_a_customer_filter_restricts_every_count_to_its_customers(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: Headers, as_subquery: bool
) -> None:
    chosen = ["alice", "bob", "carol"]
    await ingest(client, admin_headers, *history(chosen))
    # Reference: the same history for the chosen customers alone, before anyone else's.
    expected = {
        (name, str(params)): await over_http(client, admin_headers, name, params)
        for name, _, params in ASKED
    }
    await ingest(client, admin_headers, *history(["dave", "erin", "frank", "gus"], offset=7))
    ids = (
        CustomerFilter(select(Customer.id).where(Customer.id.in_(chosen)))
        if as_subquery
        else CustomerFilter.of(chosen)
    )
    for name, method, params in ASKED:
        got = await restricted(app, name, method, params, ids)
        assert got == expected[(name, str(params))], (name, params)
        assert got["value"] is not None, (name, params)
    # Unrestricted, the others count too: the filter, not the data, made them equal.
    everyone = await over_http(client, admin_headers, MetricName.nps, {})
    assert everyone["responses"] == 7
    assert expected[(MetricName.nps, "{}")]["responses"] == 3
