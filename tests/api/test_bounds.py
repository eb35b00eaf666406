"""Inputs that once answered 500: each is now a 4xx problem pointing at the value, and
leaves the database as it was; values at the bounds are processed.

Run on both databases (REINFORCE_TEST_DATABASE_URL for PostgreSQL): several of these only
failed on one of them (int4 points, JSON without NaN, numeric overflow).
"""

import json
from typing import Any

import httpx
import pytest

from tests.factories import event, purchase
from tests.reliability.database import fingerprint

PROBLEM = "application/problem+json"
VALIDATION = "urn:reinforce:problem:validation-error"
MALFORMED = "urn:reinforce:problem:malformed-request"


def _raw(body: dict[str, Any]) -> bytes:
    # allow_nan: json.dumps writes NaN and Infinity as the bare tokens Python's parser takes.
    return json.dumps(body, allow_nan=True).encode()


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value}
    return value


def _with_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {**purchase(), "attributes": attributes}


CASES: list[tuple[str, bytes, int, str, str | None]] = [
    (
        "expiry past year 9999",
        _raw({**purchase(), "occurred_at": "9999-12-31T23:59:59Z"}),
        422,
        VALIDATION,
        "/occurred_at",
    ),
    (
        "UTC conversion before year 1",
        _raw({**purchase(), "occurred_at": "0001-01-01T00:00:00+05:00"}),
        422,
        VALIDATION,
        "/occurred_at",
    ),
    (
        "UTC conversion past year 9999",
        _raw({**purchase(), "occurred_at": "9999-12-31T23:00:00-05:00"}),
        422,
        VALIDATION,
        "/occurred_at",
    ),
    (
        "a Unix number where RFC 3339 text is due",
        _raw({**purchase(), "occurred_at": 1_700_000_000}),
        422,
        VALIDATION,
        "/occurred_at",
    ),
    (
        "points past int4 from the amount",
        _raw(purchase(amount="99999999999999.9999")),
        422,
        VALIDATION,
        "/data/amount",
    ),
    (
        "an amount in exponent notation",
        _raw(purchase(amount="1e9")),
        422,
        VALIDATION,
        "/data/amount",
    ),
    (
        "NaN in attributes",
        _raw(_with_attributes({"x": float("nan")})),
        422,
        VALIDATION,
        "/attributes/x",
    ),
    (
        "Infinity in attributes",
        _raw(_with_attributes({"x": [1, float("inf")]})),
        422,
        VALIDATION,
        "/attributes/x/1",
    ),
    (
        "1e400 in attributes",
        _raw(_with_attributes({"x": 7})).replace(b'"x": 7', b'"x": 1e400'),
        422,
        VALIDATION,
        "/attributes/x",
    ),
    (
        "attributes 255 levels deep",
        _raw(_with_attributes({"deep": _nested(255)})),
        422,
        VALIDATION,
        "/attributes/deep" + "/a" * 15,
    ),
    (
        "NaN in free-form data",
        _raw({**event("signup"), "data": {"score": float("nan")}}),
        422,
        VALIDATION,
        "/data/score",
    ),
    (
        "100k levels with a \\u escape",
        b'{"id": "\\u0041", "attributes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        MALFORMED,
        None,
    ),
    (
        "a member name twice",
        _raw(purchase()).replace(b'"amount": "49.90"', b'"amount": "-1", "amount": "10"'),
        400,
        MALFORMED,
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "type_", "pointer"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_input_that_answered_500_is_a_problem_and_changes_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database_url: str,
    body: bytes,
    status: int,
    type_: str,
    pointer: str | None,
) -> None:
    before = await fingerprint(database_url)
    for path, payload in (("/v1/events", body), ("/v1/events/batch", None)):
        if payload is None:
            if status != 422:
                continue  # a body the door refuses is refused whole, batch or not
            payload = b'{"events": [' + body + b"]}"
        response = await client.post(
            path, content=payload, headers={**admin_headers, "Content-Type": "application/json"}
        )
        problem = response.json()
        if path == "/v1/events/batch":
            assert response.status_code == 200, response.text
            assert problem["failed"] == 1
            problem = problem["items"][0]["problem"]
        else:
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == PROBLEM
        assert problem["status"] == status
        assert problem["type"] == type_
        if pointer is not None:
            assert [e["pointer"] for e in problem["errors"]][:1] == [pointer]
    assert await fingerprint(database_url) == before


async def test_a_bad_item_in_a_batch_fails_alone(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database_url: str
) -> None:
    good = [purchase("batch-a"), purchase("batch-b")]
    bad = {**purchase("batch-bad"), "occurred_at": "9999-12-31T23:59:59Z"}
    response = await client.post(
        "/v1/events/batch", json={"events": [good[0], bad, good[1]]}, headers=admin_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert [item["status"] for item in body["items"]] == [201, 422, 201]
    assert (body["processed"], body["failed"]) == (2, 1)
    problem = body["items"][1]["problem"]
    assert problem["type"] == VALIDATION
    assert [e["pointer"] for e in problem["errors"]] == ["/occurred_at"]
    for customer, expected in (("batch-a", 200), ("batch-b", 200), ("batch-bad", 404)):
        read = await client.get(f"/v1/customers/{customer}", headers=admin_headers)
        assert read.status_code == expected, customer


@pytest.mark.parametrize(
    ("action", "pointer"),
    [
        ({"type": "award_points", "points": 3_000_000_000}, "/actions/0/points"),
        ({"type": "award_points", "per_unit": 1e300}, "/actions/0/per_unit"),
        ({"type": "award_points", "per_unit": 1, "max_points": 2**40}, "/actions/0/max_points"),
    ],
)
async def test_a_rule_that_would_overflow_is_refused(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database_url: str,
    action: dict[str, Any],
    pointer: str,
) -> None:
    before = await fingerprint(database_url)
    rule = {"name": "huge", "types": ["purchase"], "actions": [action]}
    response = await client.post("/v1/rules", json=rule, headers=admin_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == VALIDATION
    assert pointer in [e["pointer"] for e in problem["errors"]]
    assert await fingerprint(database_url) == before


async def test_a_computed_award_is_clamped_and_never_fails_the_event(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    rule = {
        "name": "generous",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "per_unit": 1_000_000, "multiplier": 1000}],
    }
    assert (await client.post("/v1/rules", json=rule, headers=admin_headers)).status_code == 201
    response = await client.post(
        "/v1/events", json=purchase(amount="9999999999.9999"), headers=admin_headers
    )
    assert response.status_code == 201, response.text
    assert [e["points"] for e in response.json()["effects"]] == [1_000_000_000]


async def test_points_and_spend_past_32_bits_are_carried(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for _ in range(2):
        response = await client.post(
            "/v1/events", json=purchase(amount="9999999999.9999"), headers=admin_headers
        )
        assert response.status_code == 201, response.text
    for _ in range(3):
        adjustment = {"points": 1_000_000_000, "reason": "large goodwill"}
        response = await client.post(
            "/v1/customers/alice/adjustments", json=adjustment, headers=admin_headers
        )
        assert response.status_code == 201, response.text
    customer = (await client.get("/v1/customers/alice", headers=admin_headers)).json()
    # The default point per currency unit is clamped to 10^9 for each purchase.
    assert customer["points"]["available"] == 2 * 1_000_000_000 + 3 * 1_000_000_000
    assert customer["aggregates"]["lifetime_spend"] == "19999999999.9998"
