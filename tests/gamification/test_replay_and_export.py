"""The backtest replays streaks and challenges; the export holds the customer's game state."""

from datetime import timedelta
from typing import Any

import httpx

from tests.gamification.helpers import Headers, at, post_all, review


async def test_backtest_replays_streaks_and_challenges(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    streak = {"event_types": ["review"], "period": "week"}
    response = await client.put("/v1/rules/streaks/weekly", json=streak, headers=admin_headers)
    assert response.status_code == 201
    challenge = {
        "id": "two-reviews",
        "name": "Two reviews",
        "event_types": ["review"],
        "goal": {"count": 2},
        "window": {"rolling_days": 30},
        "actions": [{"type": "award_points", "points": 40}],
    }
    assert (
        await client.post("/v1/challenges", json=challenge, headers=admin_headers)
    ).status_code == 201
    monday = at("2025-06-02T10:00:00")
    # Weeks 0, 1, 2 for ana (a streak of 3 at week 2); one review for ben.
    bodies = [review("ana", monday + timedelta(weeks=w)) for w in range(3)]
    bodies.append(review("ben", monday))
    await post_all(client, admin_headers, bodies)

    draft = {
        "id": "third-week",
        "name": "Third week in a row",
        "types": ["review"],
        "conditions": {"fact": "event.streaks.weekly", "op": "eq", "value": 3},
        "actions": [{"type": "award_points", "points": 5}],
    }
    body: dict[str, Any] = {
        "from": "2025-01-01T00:00:00Z",
        "to": "2026-01-01T00:00:00Z",
        "rules": [draft],
    }
    response = await client.post("/v1/rules/backtest", json=body, headers=admin_headers)
    assert response.status_code == 200, response.text
    result = response.json()
    [rule] = result["rules"]
    assert (rule["events_fired"], rule["customers_affected"], rule["points"]) == (1, 1, 5)
    # The draft's 5 points, and the challenge's 40 for ana's second review, as issued live
    # (the live programme, the default one, gives reviews nothing else).
    assert result["points_would_issue"] == 5 + 40
    assert result["points_actually_issued"] == 40


async def test_the_export_holds_scores_streaks_and_challenges(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    board = {
        "id": "b",
        "name": "B",
        "score": "event_count",
        "event_types": ["review"],
        "period": "month",
    }
    assert (
        await client.post("/v1/leaderboards", json=board, headers=admin_headers)
    ).status_code == 201
    streak = {"event_types": ["review"], "period": "day"}
    assert (
        await client.put("/v1/rules/streaks/daily", json=streak, headers=admin_headers)
    ).status_code == 201
    challenge = {
        "id": "c",
        "name": "C",
        "event_types": ["review"],
        "goal": {"count": 5},
        "window": {"rolling_days": 7},
        "actions": [{"type": "award_badge", "badge": "x"}],
    }
    assert (
        await client.post("/v1/challenges", json=challenge, headers=admin_headers)
    ).status_code == 201
    await post_all(
        client,
        admin_headers,
        [review("ana", at("2025-06-02T10:00:00")), review("ana", at("2025-06-03T10:00:00"))],
    )
    export = (await client.get("/v1/customers/ana/export", headers=admin_headers)).json()
    assert [
        (s["leaderboard_id"], s["period_key"], s["score"]) for s in export["leaderboard_scores"]
    ] == [("b", "2025-06", "2.0000")]
    day = at("2025-06-02T00:00:00").date().toordinal()
    assert export["streaks"] == [{"streak_id": "daily", "periods": [[day, day + 1]]}]
    [progress] = export["challenges"]
    assert (progress["challenge_id"], progress["progress"], progress["completions"]) == (
        "c",
        "2.0000",
        0,
    )
