"""Builders for request bodies, so tests state only what they are about."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

NOW = datetime.now(UTC).replace(microsecond=0)


def when(days_ago: float = 0) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def event(type_: str, customer: str = "alice", **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"evt-{uuid4().hex[:12]}",
        "type": type_,
        "customer_id": customer,
        "occurred_at": when(),
        "data": data,
    }
    return body


def purchase(
    customer: str = "alice", amount: str = "49.90", order_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = event(
        "purchase",
        customer,
        order_id=order_id or f"ord-{uuid4().hex[:10]}",
        amount=amount,
        currency="EUR",
    )
    body.update(extra)
    return body


def refund(order_id: str, amount: str, customer: str = "alice") -> dict[str, Any]:
    return event("refund", customer, order_id=order_id, amount=amount)
