"""Streaks over HTTP, against streaks counted here by walking the weeks by hand."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.gamification.helpers import Headers, post_all, purchase

# Mondays of consecutive ISO weeks of 2025 (W10 .. W17).
WEEKS = [date(2025, 3, 3) + timedelta(weeks=n) for n in range(8)]


def noon(week: int, days: int = 2) -> datetime:
    return datetime.combine(WEEKS[week] + timedelta(days=days), datetime.min.time(), UTC).replace(
        hour=12
    )


def reference_current(active: set[int], grace: int, p: int) -> int:
    """The streak reaching week ``p``: walk back from it, stop after more than ``grace``
    missed weeks in a row."""
    count = 1 if p in active else 0
    missed = 0
    q = p - 1
    while active and q >= min(active):
        if q in active:
            count += 1
            missed = 0
        else:
            missed += 1
            if missed > grace:
                break
        q -= 1
    return count


def reference_best(active: set[int], grace: int) -> int:
    return max((reference_current(active, grace, p) for p in active), default=0)


async def put_streak(
    client: httpx.AsyncClient, headers: Headers, streak_id: str, **body: Any
) -> httpx.Response:
    return await client.put(f"/v1/rules/streaks/{streak_id}", json=body, headers=headers)


async def add_rule(client: httpx.AsyncClient, headers: Headers, rule: dict[str, Any]) -> None:
    response = await client.post("/v1/rules", json=rule, headers=headers)
    assert response.status_code == 201, response.text


async def streaks_of(client: httpx.AsyncClient, headers: Headers, customer: str) -> dict:
    response = await client.get(f"/v1/customers/{customer}", headers=headers)
    assert response.status_code == 200, response.text
    return {s["streak_id"]: s for s in response.json()["streaks"]}


async def test_a_streak_kept_by_its_grace(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    created = await put_streak(
        client, admin_headers, "weekly", event_types=["purchase"], period="week", grace=1
    )
    assert created.status_code == 201, created.text
    strict = await put_streak(
        client, admin_headers, "weekly-strict", event_types=["purchase"], period="week"
    )
    assert strict.status_code == 201
    assert strict.json()["grace"] == 0
    for streak_id, badge in (("weekly", "regular"), ("weekly-strict", "strict-regular")):
        await add_rule(
            client,
            admin_headers,
            {
                "id": f"{streak_id}-badge",
                "name": f"4 weeks of {streak_id}",
                "types": ["purchase"],
                "conditions": {"fact": f"event.streaks.{streak_id}", "op": "gte", "value": 4},
                "actions": [{"type": "award_badge", "badge": badge}],
            },
        )
    # Weeks 0, 1, 3, 4: week 2 is missed, which a grace of one week forgives.
    active = {0, 1, 3, 4}
    answers = []
    for week in sorted(active):
        response = await client.post(
            "/v1/events", json=purchase("ana", noon(week), "10"), headers=admin_headers
        )
        assert response.status_code == 201, response.text
        answers.append(response.json())
    badges = [
        sorted(e["badge"] for e in a["effects"] if e["action"] == "award_badge") for a in answers
    ]
    expected = [
        [
            b
            for b, grace in (("regular", 1), ("strict-regular", 0))
            if reference_current(active, grace, week) >= 4
        ]
        for week in sorted(active)
    ]
    assert badges == expected
    assert expected[-1] == ["regular"]  # 4 weeks with the grace, 2 without
    now = await streaks_of(client, admin_headers, "ana")
    # Long broken by now; the best streak stays.
    assert now["weekly"]["current"] == 0
    assert now["weekly"]["best"] == reference_best(active, 1) == 4
    assert now["weekly-strict"]["best"] == reference_best(active, 0) == 2


async def test_a_back_dated_event_counts_in_its_own_period(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await put_streak(client, admin_headers, "weekly", event_types=["purchase"], period="week")
    # Before the event, at the event's own week: 7 points when the streak was at 2.
    await add_rule(
        client,
        admin_headers,
        {
            "id": "streak-of-two",
            "name": "Streak of two",
            "types": ["purchase"],
            "conditions": {"fact": "customer.streaks.weekly.current", "op": "eq", "value": 2},
            "actions": [{"type": "award_points", "points": 7}],
        },
    )
    await add_rule(
        client,
        admin_headers,
        {
            "id": "record",
            "name": "Best streak so far",
            "types": ["purchase"],
            "conditions": {"fact": "customer.streaks.weekly.best", "op": "gte", "value": 2},
            "actions": [{"type": "award_badge", "badge": "had-a-streak"}],
        },
    )
    weeks = [0, 1, 3, 4]
    await post_all(client, admin_headers, [purchase("ben", noon(w), "10") for w in weeks])
    before = await streaks_of(client, admin_headers, "ben")
    assert before["weekly"]["best"] == reference_best(set(weeks), 0) == 2

    late = await client.post(
        "/v1/events", json=purchase("ben", noon(2), "10"), headers=admin_headers
    )
    assert late.status_code == 201, late.text
    effects = {(e["rule_id"], e["action"], e["points"]) for e in late.json()["effects"]}
    # In week 2, before this event, the streak reached 2 (weeks 0 and 1).
    assert reference_current({0, 1, 3, 4}, 0, 2) == 2
    assert ("streak-of-two", "award_points", 7) in effects
    after = await streaks_of(client, admin_headers, "ben")
    assert after["weekly"]["best"] == reference_best({0, 1, 2, 3, 4}, 0) == 5

    # A purchase this week: the streak reaching now is 1; the best is unchanged.
    await post_all(client, admin_headers, [purchase("ben", datetime.now(UTC), "10")])
    assert (await streaks_of(client, admin_headers, "ben"))["weekly"] == {
        "streak_id": "weekly",
        "period": "week",
        "current": 1,
        "best": 5,
    }


async def test_daily_and_monthly_streaks(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await put_streak(
        client, admin_headers, "daily", event_types=["purchase", "review"], period="day", grace=2
    )
    await put_streak(client, admin_headers, "monthly", event_types=["purchase"], period="month")
    now = datetime.now(UTC)
    days = [0, 1, 4, 5, 9]  # days ago: gaps of 2 (forgiven) and 3 (breaks)
    bodies = [purchase("cy", now - timedelta(days=d), "5") for d in days]
    bodies.append(
        {
            "id": "evt-review-cy",
            "type": "review",
            "customer_id": "cy",
            "occurred_at": (now - timedelta(days=2)).isoformat(),
            "data": {"rating": 4},
        }
    )
    await post_all(client, admin_headers, bodies)
    today = now.date().toordinal()
    active = {today - d for d in [*days, 2]}
    found = await streaks_of(client, admin_headers, "cy")
    assert found["daily"]["current"] == reference_current(active, 2, today)
    assert found["daily"]["best"] == reference_best(active, 2)
    months = {(now - timedelta(days=d)).year * 12 + (now - timedelta(days=d)).month for d in days}
    this_month = now.year * 12 + now.month
    assert found["monthly"]["current"] == reference_current(months, 0, this_month)


async def test_definitions_and_facts(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    bad = [
        ({"event_types": ["unboxing"], "period": "week"}, "/event_types/0"),
        ({"event_types": [], "period": "week"}, "/event_types"),
        ({"event_types": ["purchase"], "period": "year"}, "/period"),
        ({"event_types": ["purchase"], "period": "week", "grace": -1}, "/grace"),
        ({"event_types": ["purchase"], "period": "week", "grace": 31}, "/grace"),
    ]
    for body, pointer in bad:
        response = await client.put("/v1/rules/streaks/s1", json=body, headers=admin_headers)
        assert response.status_code == 422, body
        assert next(e["pointer"] for e in response.json()["errors"]).startswith(pointer)
    assert (await client.get("/v1/rules/streaks/s1", headers=admin_headers)).status_code == 404
    bad_id = await put_streak(
        client, admin_headers, "Not An Id", event_types=["purchase"], period="week"
    )
    assert bad_id.status_code == 422

    first = await put_streak(client, admin_headers, "s1", event_types=["purchase"], period="week")
    assert first.status_code == 201
    again = await put_streak(
        client, admin_headers, "s1", event_types=["purchase", "review"], period="week", grace=2
    )
    assert again.status_code == 200
    assert again.json()["event_types"] == ["purchase", "review"]
    listed = (await client.get("/v1/rules/streaks", headers=admin_headers)).json()["items"]
    assert [s["id"] for s in listed] == ["s1"]

    facts = {f["path"] for f in (await client.get("/v1/rules/facts", headers=admin_headers)).json()}
    assert {
        "customer.streaks.<id>.current",
        "customer.streaks.<id>.best",
        "event.streaks.<id>",
    } <= facts
    nonsense = await client.post(
        "/v1/rules",
        json={
            "name": "x",
            "types": ["purchase"],
            "conditions": {"fact": "customer.streaks.s1.worst", "op": "gt", "value": 1},
            "actions": [{"type": "award_points", "points": 1}],
        },
        headers=admin_headers,
    )
    assert nonsense.status_code == 422

    assert (await client.delete("/v1/rules/streaks/s1", headers=admin_headers)).status_code == 204
    assert (await client.delete("/v1/rules/streaks/s1", headers=admin_headers)).status_code == 404
