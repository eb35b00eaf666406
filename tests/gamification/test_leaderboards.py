"""Leaderboards over HTTP: live standings against rankings computed here by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer
from tests.gamification.helpers import (
    Headers,
    all_standings,
    as_expected,
    at,
    expected_standings,
    post_all,
    purchase,
    review,
)


async def create(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/leaderboards", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def standing(
    client: httpx.AsyncClient, headers: Headers, board: str, customer: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/leaderboards/{board}/standings/{customer}", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


# Reviews in November 2025: counts 3, 2, 2, 2, 1, 1 with ties reached at different times.
REVIEWS = [
    ("ana", "2025-11-03T10:00:00"),
    ("ana", "2025-11-04T10:00:00"),
    ("ana", "2025-11-05T10:00:00"),
    ("ben", "2025-11-02T09:00:00"),
    ("ben", "2025-11-20T09:00:00"),
    ("cy", "2025-11-06T09:00:00"),
    ("cy", "2025-11-07T09:00:00"),
    ("dee", "2025-11-01T09:00:00"),
    ("dee", "2025-11-10T09:00:00"),
    ("eve", "2025-11-15T12:00:00"),
    ("fay", "2025-11-12T12:00:00"),
]


async def test_ranking_with_ties_pages_and_neighbours(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        id="reviewers",
        name="Reviewers",
        score="event_count",
        event_types=["review"],
        period="month",
    )
    events = [review(c, at(t)) for c, t in REVIEWS]
    # A purchase counts nowhere on a board of reviews.
    events.append(purchase("fay", at("2025-11-13T12:00:00"), "10"))
    await post_all(client, admin_headers, events)
    expected = expected_standings((c, Decimal(1), at(t)) for c, t in REVIEWS)
    # 3, 2, 2, 2, 1, 1: ranks 1, 2, 2, 2, 5, 5; the ties in the order they were reached.
    assert [e.rank for e in expected] == [1, 2, 2, 2, 5, 5]
    for limit in (1, 2, 4, 100):
        listed = await all_standings(
            client, admin_headers, "reviewers", period="2025-11", limit=limit
        )
        assert as_expected(listed) == expected
    first = await client.get(
        "/v1/leaderboards/reviewers/standings", params={"period": "2025-11"}, headers=admin_headers
    )
    assert first.json()["period"] == "2025-11"
    assert first.json()["starts_at"] == "2025-11-01T00:00:00Z"
    assert first.json()["ends_at"] == "2025-12-01T00:00:00Z"

    for index, mine in enumerate(expected):
        place = await standing(
            client, admin_headers, "reviewers", mine.customer_id, period="2025-11", neighbours=2
        )
        assert as_expected([place["entry"]]) == [mine]
        assert as_expected(place["above"]) == expected[max(index - 2, 0) : index]
        assert as_expected(place["below"]) == expected[index + 1 : index + 3]
    nobody = await standing(client, admin_headers, "reviewers", "zed", period="2025-11")
    assert nobody["entry"] is None
    assert nobody["above"] == []
    assert nobody["below"] == []


async def test_scores_points_net_of_reversals_and_purchase_amounts(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client, admin_headers, id="points", name="Points", score="points_earned", period="all_time"
    )
    await create(
        client, admin_headers, id="spend", name="Spend", score="purchase_amount", period="year"
    )
    # The default programme: one point per whole currency unit of a purchase. Recent
    # events, so that the points are still there for the refund to take back.
    day = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    buys = [
        ("ana", day, "120.50", "o1"),
        ("ben", day + timedelta(hours=1), "80", "o2"),
        ("ben", day + timedelta(hours=2), "60", "o3"),
        ("cy", day + timedelta(hours=3), "140", "o4"),
    ]
    await post_all(client, admin_headers, [purchase(c, t, a, o) for c, t, a, o in buys])
    refunded_at = day + timedelta(hours=4)
    refund = {
        "id": "evt-refund-1",
        "type": "refund",
        "customer_id": "cy",
        "occurred_at": refunded_at.isoformat(),
        "data": {"order_id": "o4", "amount": "70"},
    }
    await post_all(client, admin_headers, [refund])
    points = expected_standings(
        [
            ("ana", Decimal(120), buys[0][1]),
            ("ben", Decimal(80), buys[1][1]),
            ("ben", Decimal(60), buys[2][1]),
            ("cy", Decimal(140), buys[3][1]),
            ("cy", Decimal(-70), refunded_at),
        ]
    )
    listed = await all_standings(client, admin_headers, "points", period="current")
    assert as_expected(listed) == points
    assert listed[0]["customer_id"] == "ben"
    assert listed[0]["score"] == "140.0000"
    spend = expected_standings((c, Decimal(a), t) for c, t, a, _ in buys)
    year = str(day.year)
    assert as_expected(await all_standings(client, admin_headers, "spend", period=year)) == spend


async def test_period_rollover_and_past_periods(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        id="weekly",
        name="Weekly",
        score="event_count",
        event_types=["review"],
        period="week",
    )
    # 2025-12-28 is the Sunday ending ISO week 2025-W52; the Monday after opens 2026-W01.
    late = [
        ("ana", "2025-12-28T23:59:59"),
        ("ana", "2025-12-27T10:00:00"),
        ("ben", "2025-12-22T00:00:00"),
    ]
    early = [("ben", "2025-12-29T00:00:00"), ("cy", "2025-12-30T08:00:00")]
    await post_all(client, admin_headers, [review(c, at(t)) for c, t in late + early])
    w52 = await all_standings(client, admin_headers, "weekly", period="2025-W52")
    assert as_expected(w52) == expected_standings((c, Decimal(1), at(t)) for c, t in late)
    w01 = await all_standings(client, admin_headers, "weekly", period="2026-W01")
    assert as_expected(w01) == expected_standings((c, Decimal(1), at(t)) for c, t in early)
    # The current week has nothing of these back-dated events.
    assert await all_standings(client, admin_headers, "weekly") == []
    now = datetime.now(UTC)
    await post_all(client, admin_headers, [review("dee", now - timedelta(seconds=5))])
    current = await all_standings(client, admin_headers, "weekly", period="current")
    assert [e["customer_id"] for e in current] == ["dee"]


async def test_rolling_window_sums_its_days(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        id="rolling",
        name="Last 7 days",
        score="event_count",
        event_types=["review"],
        period={"rolling_days": 7},
    )
    reviews = [
        ("ana", "2025-06-01T10:00:00"),  # outside a window ending 2025-06-10
        ("ana", "2025-06-01T11:00:00"),
        ("ben", "2025-06-04T00:00:00"),  # the window's first day
        ("ben", "2025-06-09T10:00:00"),
        ("cy", "2025-06-10T23:00:00"),
        ("ana", "2025-06-08T10:00:00"),
    ]
    await post_all(client, admin_headers, [review(c, at(t)) for c, t in reviews])
    inside = [(c, Decimal(1), at(t)) for c, t in reviews if at(t) >= at("2025-06-04T00:00:00")]
    listed = await all_standings(client, admin_headers, "rolling", period="2025-06-10", limit=1)
    assert as_expected(listed) == expected_standings(inside)
    place = await standing(client, admin_headers, "rolling", "ana", period="2025-06-10")
    assert place["entry"]["rank"] == 2
    assert place["starts_at"] == "2025-06-04T00:00:00Z"


async def test_opt_out_is_never_listed(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await create(
        client,
        admin_headers,
        id="reviewers",
        name="Reviewers",
        score="event_count",
        event_types=["review"],
        period="month",
    )
    await post_all(client, admin_headers, [review(c, at(t)) for c, t in REVIEWS])
    contributions = [(c, Decimal(1), at(t)) for c, t in REVIEWS]
    opt_out = {"leaderboard_opt_out": True}
    response = await client.patch("/v1/customers/ben", json=opt_out, headers=admin_headers)
    assert response.status_code == 200, response.text
    listed = await all_standings(client, admin_headers, "reviewers", period="2025-11", limit=2)
    assert as_expected(listed) == expected_standings(contributions, hidden=["ben"])
    assert (await standing(client, admin_headers, "reviewers", "ben", period="2025-11"))[
        "entry"
    ] is None
    # Events after opting out are counted, and still not listed.
    later = review("ben", at("2025-11-21T09:00:00"))
    await post_all(client, admin_headers, [later, review("gus", at("2025-11-22T09:00:00"))])
    contributions += [("ben", Decimal(1), at("2025-11-21T09:00:00"))]
    contributions += [("gus", Decimal(1), at("2025-11-22T09:00:00"))]
    listed = await all_standings(client, admin_headers, "reviewers", period="2025-11")
    assert as_expected(listed) == expected_standings(contributions, hidden=["ben"])
    response = await client.patch(
        "/v1/customers/ben", json={"leaderboard_opt_out": False}, headers=admin_headers
    )
    assert response.status_code == 200
    listed = await all_standings(client, admin_headers, "reviewers", period="2025-11")
    assert as_expected(listed) == expected_standings(contributions)
    # Three reviews each: ana reached 3 first.
    assert [(e["customer_id"], e["rank"]) for e in listed[:2]] == [("ana", 1), ("ben", 1)]


async def test_a_shopper_sees_display_names_never_ids(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        id="reviewers",
        name="Reviewers",
        score="event_count",
        event_types=["review"],
        period="month",
    )
    await post_all(client, admin_headers, [review(c, at(t)) for c, t in REVIEWS])
    names = {"ana": "Ana A.", "ben": "Ben B.", "cy": "Cy C.", "dee": "Dee D.", "eve": "Eve E."}
    for customer, name in names.items():
        patch = {"display_name": name}
        response = await client.patch(
            f"/v1/customers/{customer}", json=patch, headers=admin_headers
        )
        assert response.status_code == 200
    token = (await client.post("/v1/customers/cy/tokens", headers=admin_headers)).json()["token"]
    response = await client.get(
        "/v1/me/leaderboards/reviewers",
        params={"period": "2025-11", "neighbours": 1},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    mine = response.json()
    expected = expected_standings((c, Decimal(1), at(t)) for c, t in REVIEWS)
    index = [e.customer_id for e in expected].index("cy")
    shown = expected[index - 1 : index + 2]
    assert mine["rank"] == expected[index].rank
    assert Decimal(mine["score"]) == 2
    assert [(e["rank"], e["display_name"], e["me"]) for e in mine["entries"]] == [
        (e.rank, names.get(e.customer_id), e.customer_id == "cy") for e in shown
    ]
    # No customer id anywhere in the answer, the shopper's own included.
    for customer, _ in REVIEWS:
        assert f'"{customer}"' not in response.text
    assert "customer_id" not in response.text
    # The shop's routes are not the shopper's.
    admin_route = await client.get("/v1/leaderboards/reviewers/standings", headers=bearer(token))
    assert admin_route.status_code == 403
    unknown = await client.get("/v1/me/leaderboards/nope", headers=bearer(token))
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "urn:reinforce:problem:leaderboard-not-found"


async def test_tier_restricted_board_counts_members_only(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    tiers = {"tiers": [{"tier": "gold", "min_lifetime_points": 100}]}
    assert (
        await client.put("/v1/rules/tiers", json=tiers, headers=admin_headers)
    ).status_code == 200
    await create(
        client,
        admin_headers,
        id="gold",
        name="Gold spenders",
        score="purchase_amount",
        period="all_time",
        tier="gold",
    )
    buys = [
        ("ana", "2025-01-01T10:00:00", "50"),  # not gold yet: does not count
        ("ana", "2025-01-02T10:00:00", "60"),  # reaches 110 points: gold, counts
        ("ben", "2025-01-03T10:00:00", "40"),  # never gold
        ("cy", "2025-01-04T10:00:00", "150"),  # gold at once
    ]
    await post_all(client, admin_headers, [purchase(c, at(t), a) for c, t, a in buys])
    listed = await all_standings(client, admin_headers, "gold")
    assert as_expected(listed) == expected_standings(
        [("ana", Decimal(60), at(buys[1][1])), ("cy", Decimal(150), at(buys[3][1]))]
    )


async def test_crud_and_bad_definitions(
    client: httpx.AsyncClient, admin_headers: Headers, make_key: KeyFactory
) -> None:
    board = await create(
        client,
        admin_headers,
        id="b1",
        name="B",
        score="points_earned",
        period="month",
        rewards=[{"top": 3, "badge": "podium"}],
    )
    assert board["period"] == "month"
    assert board["event_types"] == []
    rolling = await create(
        client, admin_headers, name="R", score="points_earned", period={"rolling_days": 30}
    )
    assert rolling["id"].startswith("lb-")
    assert rolling["period"] == {"rolling_days": 30}
    taken = await client.post(
        "/v1/leaderboards",
        json={"id": "b1", "name": "B", "score": "points_earned", "period": "week"},
        headers=admin_headers,
    )
    assert taken.status_code == 409
    assert taken.json()["type"] == "urn:reinforce:problem:leaderboard-id-taken"
    bad = [
        ({"score": "event_count", "event_types": ["unboxing"], "period": "week"}, "/event_types/0"),
        ({"score": "event_count", "period": "week"}, "/event_types"),
        ({"score": "points_earned", "period": "decade"}, "/period"),
        ({"score": "points_earned", "period": {"rolling_days": 0}}, "/period/rolling_days"),
        ({"score": "likes", "period": "week"}, "/score"),
        ({"score": "purchase_amount", "event_types": ["review"], "period": "week"}, "/event_types"),
        (
            {"score": "points_earned", "period": "all_time", "rewards": [{"top": 1, "badge": "x"}]},
            "/rewards",
        ),
        (
            {"score": "points_earned", "period": "week", "rewards": [{"top": 0, "badge": "x"}]},
            "/rewards/0/top",
        ),
    ]
    for body, pointer in bad:
        response = await client.post(
            "/v1/leaderboards", json={"name": "x", **body}, headers=admin_headers
        )
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        pointers = [e["pointer"] for e in response.json()["errors"]]
        assert any(p.startswith(pointer) for p in pointers), (body, pointers)
    listed = (await client.get("/v1/leaderboards", headers=admin_headers)).json()["items"]
    assert sorted(b["id"] for b in listed) == sorted(["b1", rolling["id"]])

    patched = await client.patch(
        "/v1/leaderboards/b1", json={"name": "Renamed", "rewards": []}, headers=admin_headers
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["rewards"] == []
    assert patched.json()["score"] == "points_earned"
    fixed = await client.patch(
        "/v1/leaderboards/b1", json={"score": "event_count"}, headers=admin_headers
    )
    assert fixed.status_code == 422
    no_end = await client.patch(
        f"/v1/leaderboards/{rolling['id']}",
        json={"rewards": [{"top": 1, "badge": "x"}]},
        headers=admin_headers,
    )
    assert no_end.status_code == 422
    assert no_end.json()["type"] == "urn:reinforce:problem:leaderboard-period-never-ends"

    for period in ("2025-13", "2025-W54", "2025", "nonsense", "2025-11-01"):
        response = await client.get(
            "/v1/leaderboards/b1/standings", params={"period": period}, headers=admin_headers
        )
        assert response.status_code == 422, period
        assert response.json()["type"] == "urn:reinforce:problem:invalid-period"
    cursor = await client.get(
        "/v1/leaderboards/b1/standings", params={"cursor": "abc"}, headers=admin_headers
    )
    assert cursor.status_code == 422
    assert cursor.json()["type"] == "urn:reinforce:problem:invalid-cursor"

    reader = bearer(await make_key(Scope.customers_read))
    assert (await client.get("/v1/leaderboards/b1", headers=reader)).status_code == 200
    assert (await client.get("/v1/leaderboards/b1/standings", headers=reader)).status_code == 200
    refused = await client.post(
        "/v1/leaderboards",
        json={"name": "x", "score": "points_earned", "period": "week"},
        headers=reader,
    )
    assert refused.status_code == 403
    assert (await client.delete("/v1/leaderboards/b1", headers=reader)).status_code == 403

    assert (await client.delete("/v1/leaderboards/b1", headers=admin_headers)).status_code == 204
    assert (await client.get("/v1/leaderboards/b1", headers=admin_headers)).status_code == 404
    assert (await client.delete("/v1/leaderboards/b1", headers=admin_headers)).status_code == 404
    again = await client.post(
        "/v1/leaderboards",
        json={"id": "b1", "name": "B", "score": "points_earned", "period": "week"},
        headers=admin_headers,
    )
    assert again.status_code == 409


async def test_erased_customers_leave_the_standings(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        id="reviewers",
        name="Reviewers",
        score="event_count",
        event_types=["review"],
        period="month",
    )
    await post_all(client, admin_headers, [review(c, at(t)) for c, t in REVIEWS])
    assert (await client.delete("/v1/customers/ana", headers=admin_headers)).status_code == 200
    listed = await all_standings(client, admin_headers, "reviewers", period="2025-11")
    contributions = [(c, Decimal(1), at(t)) for c, t in REVIEWS]
    assert as_expected(listed) == expected_standings(contributions, hidden=["ana"])
