"""Building events at chosen times, and the standings a test expects, computed by hand."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx

Headers = dict[str, str]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def review(customer: str, when: datetime, rating: int = 5) -> dict[str, Any]:
    return {
        "id": f"evt-{uuid4().hex[:12]}",
        "type": "review",
        "customer_id": customer,
        "occurred_at": when.isoformat(),
        "data": {"rating": rating},
    }


def purchase(customer: str, when: datetime, amount: str, order_id: str | None = None) -> dict:
    return {
        "id": f"evt-{uuid4().hex[:12]}",
        "type": "purchase",
        "customer_id": customer,
        "occurred_at": when.isoformat(),
        "data": {
            "order_id": order_id or f"ord-{uuid4().hex[:10]}",
            "amount": amount,
            "currency": "EUR",
        },
    }


async def post_all(client: httpx.AsyncClient, headers: Headers, events: Iterable[dict]) -> None:
    for body in events:
        response = await client.post("/v1/events", json=body, headers=headers)
        assert response.status_code == 201, response.text


@dataclass(frozen=True)
class Expected:
    rank: int
    customer_id: str
    score: Decimal
    reached_at: datetime


def expected_standings(
    contributions: Iterable[tuple[str, Decimal, datetime]], hidden: Iterable[str] = ()
) -> list[Expected]:
    """Standard competition ranking of summed contributions, ties by when the score was
    reached (the latest contributing event), then customer id."""
    totals: dict[str, Decimal] = {}
    reached: dict[str, datetime] = {}
    for customer, value, when in contributions:
        totals[customer] = totals.get(customer, Decimal(0)) + value
        reached[customer] = max(reached.get(customer, when), when)
    order = sorted(
        (c for c in totals if c not in set(hidden)), key=lambda c: (-totals[c], reached[c], c)
    )
    out: list[Expected] = []
    for index, customer in enumerate(order):
        rank = out[-1].rank if index and totals[customer] == totals[order[index - 1]] else index + 1
        out.append(Expected(rank, customer, totals[customer], reached[customer]))
    return out


async def all_standings(
    client: httpx.AsyncClient, headers: Headers, board: str, **params: Any
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            f"/v1/leaderboards/{board}/standings", params=query, headers=headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def as_expected(entries: list[dict[str, Any]]) -> list[Expected]:
    return [
        Expected(
            e["rank"],
            e["customer_id"],
            Decimal(e["score"]),
            datetime.fromisoformat(e["reached_at"].replace("Z", "+00:00")),
        )
        for e in entries
    ]
