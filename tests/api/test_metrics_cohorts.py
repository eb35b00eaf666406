"""Acquisition cohorts by first purchase, counted by hand in the comments."""

import httpx
import pytest

from tests.api.test_metrics import Headers, at, ingest, metric
from tests.factories import purchase


async def test_monthly_cohorts(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("a"), "2026-01-05"),
        at(purchase("a"), "2026-02-10"),
        at(purchase("a"), "2026-03-03"),
        at(purchase("b"), "2026-01-20"),
        at(purchase("b"), "2026-03-15"),
        at(purchase("c"), "2026-02-01T00:00:00+00:00"),
        at(purchase("c"), "2026-02-20"),
        at(purchase("d"), "2025-12-20"),  # acquired before the window
        at(purchase("d"), "2026-01-10"),
        at(purchase("e"), "2026-03-10"),
    )
    body = await metric(
        client, admin_headers, "cohorts", **{"from": "2026-01-01", "to": "2026-03-31"}
    )
    assert body["period"] == "month"
    assert body["cohort_basis"] == "first_purchase"
    assert body["cohorts"] == [
        {"cohort": "2026-01-01", "size": 2, "active": [2, 1, 2], "share_active": [1.0, 0.5, 1.0]},
        {"cohort": "2026-02-01", "size": 1, "active": [1, 0], "share_active": [1.0, 0.0]},
        {"cohort": "2026-03-01", "size": 1, "active": [1], "share_active": [1.0]},
    ]
    # Period 1: a of January's 2, nobody of February's 1.
    assert body["value"] == pytest.approx(1 / 3, abs=1e-6)


async def test_weekly_cohorts_start_on_monday(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("a"), "2026-01-07"),  # Wednesday of the week of Monday Jan 5
        at(purchase("a"), "2026-01-13"),  # week 1
        at(purchase("b"), "2026-01-11T23:30:00+00:00"),  # Sunday: still week 0
        at(purchase("b"), "2026-01-25"),  # Sunday of week 2
    )
    body = await metric(
        client,
        admin_headers,
        "cohorts",
        **{"from": "2026-01-05", "to": "2026-01-25", "period": "week"},
    )
    assert body["cohorts"] == [
        {"cohort": "2026-01-05", "size": 2, "active": [2, 1, 1], "share_active": [1.0, 0.5, 0.5]}
    ]
    assert body["value"] == 0.5


async def test_a_period_cut_short_by_to_counts_so_far_and_stays_out_of_the_value(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("a"), "2026-01-05"),
        at(purchase("a"), "2026-02-10"),
        at(purchase("b"), "2026-01-20"),
        at(purchase("b"), "2026-03-10"),  # in March, before `to`
        at(purchase("c"), "2026-02-03"),
        at(purchase("c"), "2026-03-20"),  # after `to`: not yet happened
    )
    # March is cut short on the 15th: the window ends mid-month, as a window ending now does.
    window = {"from": "2026-01-01", "to": "2026-03-15T00:00:00Z"}
    body = await metric(client, admin_headers, "cohorts", **window)
    assert body["partial_period"] == "2026-03-01"
    assert body["cohorts"] == [
        # January's March column counts b's purchase of the 10th: what happened so far.
        {"cohort": "2026-01-01", "size": 2, "active": [2, 1, 1], "share_active": [1.0, 0.5, 0.5]},
        {"cohort": "2026-02-01", "size": 1, "active": [1, 0], "share_active": [1.0, 0.0]},
    ]
    # Period 1 of January (February, complete): a of 2. February's period 1 is the partial
    # March, left out rather than counted as c lost.
    assert body["value"] == 0.5

    # Only a partial period 1: no value yet, and the reason says so.
    body = await metric(
        client, admin_headers, "cohorts", **{"from": "2026-02-01", "to": "2026-03-15T00:00:00Z"}
    )
    assert body["partial_period"] == "2026-03-01"
    assert body["value"] is None
    assert body["reason"] == "no cohort has a complete period 1 yet"

    # A window ending on a period boundary has no partial period.
    body = await metric(
        client, admin_headers, "cohorts", **{"from": "2026-01-01", "to": "2026-02-28"}
    )
    assert body["partial_period"] is None
