"""Challenges over HTTP: progress, completion and its actions, windows and repeats."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import bearer
from tests.gamification.helpers import Headers, at, purchase, review

FIVE_STAR = {
    "id": "three-good-reviews",
    "name": "Three good reviews in 30 days",
    "event_types": ["review"],
    "condition": {"fact": "data.rating", "op": "gte", "value": 4},
    "goal": {"count": 3},
    "window": {"rolling_days": 30},
    "actions": [
        {"type": "award_points", "points": 100},
        {"type": "award_badge", "badge": "critic"},
    ],
}


async def create(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> dict:
    response = await client.post("/v1/challenges", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def post(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> dict:
    response = await client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def completions(answer: dict[str, Any], challenge_id: str) -> list[tuple[str, int | None]]:
    return [(e["action"], e["points"]) for e in answer["effects"] if e["rule_id"] == challenge_id]


async def progress(client: httpx.AsyncClient, headers: Headers, customer: str) -> dict[str, dict]:
    response = await client.get(f"/v1/customers/{customer}/challenges", headers=headers)
    assert response.status_code == 200, response.text
    return {p["challenge_id"]: p for p in response.json()["items"]}


async def test_a_challenge_completes_once_and_fires_its_actions(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(client, admin_headers, FIVE_STAR)
    now = datetime.now(UTC).replace(microsecond=0)
    ratings = [5, 2, 4, 5, 5, 4]  # the 2 does not count; the third that counts completes
    answers = []
    for index, rating in enumerate(ratings):
        when = now - timedelta(days=6 - index)
        answers.append(await post(client, admin_headers, review("ana", when, rating)))
        if index == 1:
            mid = (await progress(client, admin_headers, "ana"))["three-good-reviews"]
            assert (mid["progress"], mid["status"]) == ("1/3", "in_progress")
            assert mid["deadline"] == (
                now - timedelta(days=6) + timedelta(days=30)
            ).isoformat().replace("+00:00", "Z")
    counted = [i for i, r in enumerate(ratings) if r >= 4]
    completing = counted[2]
    for index, answer in enumerate(answers):
        expected = (
            [("challenge_completed", None), ("award_points", 100), ("award_badge", None)]
            if index == completing
            else []
        )
        assert completions(answer, "three-good-reviews") == expected
    customer = (await client.get("/v1/customers/ana", headers=admin_headers)).json()
    assert "critic" in [b["badge"] for b in customer["badges"]]
    assert customer["points"]["earned"] == 100
    done = (await progress(client, admin_headers, "ana"))["three-good-reviews"]
    assert (done["progress"], done["status"], done["completions"]) == ("3/3", "completed", 1)

    token = (await client.post("/v1/customers/ana/tokens", headers=admin_headers)).json()["token"]
    mine = await client.get("/v1/me/challenges", headers=bearer(token))
    assert mine.status_code == 200
    assert mine.json()["items"] == [done]
    assert (await progress(client, admin_headers, "ana")) == {"three-good-reviews": done}


async def test_every_window_repeats_in_each_new_window(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    body = {
        **FIVE_STAR,
        "id": "weekly-critic",
        "window": {"rolling_days": 7},
        "repeat": "every_window",
        "actions": [{"type": "award_points", "points": 10}],
    }
    await create(client, admin_headers, body)
    start = at("2025-03-01T10:00:00")
    days = [0, 1, 2, 3, 8, 9, 20, 21, 22]
    # Windows of 7 days from the first counted event: [0, 7) completes at day 2 (the 4th
    # review is in a completed window); [8, 15) has two reviews only; [20, 27) completes.
    answers = [
        await post(client, admin_headers, review("ben", start + timedelta(days=d))) for d in days
    ]
    completed_on = [
        d for d, a in zip(days, answers, strict=True) if completions(a, "weekly-critic")
    ]
    assert completed_on == [2, 22]
    state = (await progress(client, admin_headers, "ben"))["weekly-critic"]
    assert state["completions"] == 2
    # That window ended long ago: nothing is open now.
    assert (state["status"], state["progress"]) == ("not_started", "0/3")


async def test_sum_goal_in_a_fixed_window(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    body = {
        "id": "spend-100",
        "name": "Spend 100 in March",
        "event_types": ["purchase"],
        "goal": {"sum": "data.amount", "target": 100},
        "window": {"from": "2025-03-01T00:00:00Z", "until": "2025-04-01T00:00:00Z"},
        "actions": [{"type": "award_badge", "badge": "big-spender"}],
    }
    await create(client, admin_headers, body)
    buys = [
        ("2025-02-28T23:00:00", "500"),
        ("2025-03-02T10:00:00", "40.50"),
        ("2025-03-10T10:00:00", "30"),
        ("2025-04-01T00:00:00", "90"),
    ]
    answers = [await post(client, admin_headers, purchase("cy", at(t), a)) for t, a in buys]
    assert all(not completions(a, "spend-100") for a in answers)
    state = (await progress(client, admin_headers, "cy"))["spend-100"]
    assert state["progress"] == "70.5/100"
    assert state["deadline"] == "2025-04-01T00:00:00Z"
    assert state["status"] == "ended"  # March 2025 is over
    last = await post(client, admin_headers, purchase("cy", at("2025-03-31T23:59:59"), "29.5"))
    assert completions(last, "spend-100") == [("challenge_completed", None), ("award_badge", None)]
    state = (await progress(client, admin_headers, "cy"))["spend-100"]
    assert (state["progress"], state["status"]) == ("100/100", "completed")
    again = await post(client, admin_headers, purchase("cy", at("2025-03-31T23:59:59"), "200"))
    assert not completions(again, "spend-100")


async def test_bad_definitions_are_problems(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    base = {k: v for k, v in FIVE_STAR.items() if k != "id"}
    bad = [
        ({"event_types": ["unboxing"]}, "/event_types/0"),
        ({"goal": {"count": 0}}, "/goal/count"),
        (
            {
                "goal": {"sum": "data.amount", "target": 0},
                "event_types": ["purchase"],
                "condition": None,
            },
            "/goal/target",
        ),
        ({"goal": {"sum": "data.text", "target": 5}}, "/goal/sum"),
        (
            {"window": {"from": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"}},
            "/window/until",
        ),
        ({"window": {"rolling_days": 0}}, "/window/rolling_days"),
        ({"window": {"weeks": 2}}, "/window"),
        ({"condition": {"fact": "data.amount", "op": "gt", "value": 1}}, "/condition/fact"),
        ({"actions": [{"type": "multiply_points", "factor": 2}]}, "/actions/0/type"),
        ({"repeat": "twice"}, "/repeat"),
    ]
    for change, pointer in bad:
        response = await client.post(
            "/v1/challenges", json={**base, **change}, headers=admin_headers
        )
        assert response.status_code == 422, (change, response.text)
        pointers = [e["pointer"] for e in response.json()["errors"]]
        assert any(p.startswith(pointer) for p in pointers), (change, pointers)
    assert (await client.get("/v1/challenges", headers=admin_headers)).json()["items"] == []

    created = await create(client, admin_headers, FIVE_STAR)
    assert created["window"] == {"rolling_days": 30}
    assert created["goal"] == {"count": 3}
    taken = await client.post("/v1/challenges", json=FIVE_STAR, headers=admin_headers)
    assert taken.status_code == 409
    patched = await client.patch(
        "/v1/challenges/three-good-reviews", json={"name": "Critic"}, headers=admin_headers
    )
    assert patched.json()["name"] == "Critic"
    fixed = await client.patch(
        "/v1/challenges/three-good-reviews", json={"goal": {"count": 9}}, headers=admin_headers
    )
    assert fixed.status_code == 422
    missing = await client.get("/v1/customers/nobody/challenges", headers=admin_headers)
    assert missing.status_code == 404
    gone = await client.delete("/v1/challenges/three-good-reviews", headers=admin_headers)
    assert gone.status_code == 204
    assert (
        await client.get("/v1/challenges/three-good-reviews", headers=admin_headers)
    ).status_code == 404
    # A deleted challenge counts nothing.
    answer = await post(client, admin_headers, review("dee", datetime.now(UTC)))
    assert not completions(answer, "three-good-reviews")
