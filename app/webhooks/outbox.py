"""The outbox: what happened, written in the transaction that made it happen.

Services call ``emit`` (or one of the small helpers below) with the session they are
already writing with, so a message exists exactly when the change it describes commits.
Fan-out happens here, at emit time: one row per enabled subscription that wants the type.
A type nobody subscribes to writes nothing, so nothing piles up waiting for a reader;
a subscription only receives messages emitted after it was created.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MessageStatus, WebhookMessage, WebhookSubscription
from app.models.base import utcnow


class WebhookEventType(StrEnum):
    """The kinds of webhook message (not the behaviour events shops post)."""

    points_earned = "points.earned"
    points_redeemed = "points.redeemed"
    points_reversed = "points.reversed"
    points_expired = "points.expired"
    points_adjusted = "points.adjusted"
    tier_changed = "tier.changed"
    badge_awarded = "badge.awarded"
    perk_granted = "perk.granted"
    notification_requested = "notification.requested"
    feedback_detractor = "feedback.detractor"
    challenge_completed = "challenge.completed"
    customer_erased = "customer.erased"
    reward_claimed = "reward.claimed"
    coupon_redeemed = "coupon.redeemed"
    coupon_expired = "coupon.expired"


# The name before webhook and behaviour types were told apart in the OpenAPI document.
EventType = WebhookEventType

ALL_WEBHOOK_TYPES: frozenset[str] = frozenset(t.value for t in WebhookEventType)

# Ledger entry kinds (app.models.EntryKind values) and the message each one emits.
POINTS_EVENTS = {
    "earn": WebhookEventType.points_earned,
    "redeem": WebhookEventType.points_redeemed,
    "reverse": WebhookEventType.points_reversed,
    "expire": WebhookEventType.points_expired,
    "adjust": WebhookEventType.points_adjusted,
}


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


_CACHE = "reinforce.webhook_subscriptions"


async def _subscriptions(session: AsyncSession) -> list[tuple[uuid.UUID, list[str]]]:
    """The enabled subscriptions, read once per transaction.

    An event can write several messages (and a batch many events); one read per
    transaction keeps the outbox from adding a query per ledger entry.
    """
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is not None and transaction is not None and cached[0] is transaction:
        subscriptions: list[tuple[uuid.UUID, list[str]]] = cached[1]
        return subscriptions
    rows = (
        await session.execute(
            select(WebhookSubscription.id, WebhookSubscription.event_types).where(
                WebhookSubscription.enabled.is_(True)
            ),
            # Pending ledger rows have nothing to do with subscriptions: flushing them here
            # would split what the caller's next flush writes in one go.
            execution_options={"autoflush": False},
        )
    ).all()
    subscriptions = [(row.id, list(row.event_types)) for row in rows]
    session.info[_CACHE] = (transaction, subscriptions)
    return subscriptions


async def emit(session: AsyncSession, type_: WebhookEventType, data: dict[str, Any]) -> str | None:
    """Queue ``{type, timestamp, data}`` for every subscription that wants ``type_``.

    Answers the message id (the ``webhook-id``), or None when nobody subscribes. Never
    commits: the caller's transaction decides whether the message exists.
    """
    subscriptions = await _subscriptions(session)
    targets = [id_ for id_, types in subscriptions if not types or type_.value in types]
    if not targets:
        return None
    now = utcnow()
    message_id = new_message_id()
    payload = {
        "type": type_.value,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    session.add_all(
        WebhookMessage(
            message_id=message_id,
            subscription_id=target,
            event_type=type_.value,
            payload=payload,
            status=MessageStatus.pending.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for target in targets
    )
    # Written now, so that a savepoint rolled back (a refused event in a batch, a dry
    # run) takes the rows with it in the database rather than in the session's memory.
    await session.flush()
    return message_id


async def points_moved(
    session: AsyncSession,
    *,
    kind: str,
    customer_id: str,
    entry_id: int,
    points: int,
    event_id: str | None,
    rule_id: str | None,
    reference: str | None,
) -> None:
    await emit(
        session,
        POINTS_EVENTS[kind],
        {
            "customer_id": customer_id,
            "entry_id": entry_id,
            "points": points,
            "event_id": event_id,
            "rule_id": rule_id,
            "reference": reference,
        },
    )


def is_detractor(survey: str, score: int) -> bool:
    """NPS 0-6, or CSAT 1-2."""
    return (survey == "nps" and score <= 6) or (survey == "csat" and score <= 2)


async def customer_erased(session: AsyncSession, customer_id: str, erased_at: datetime) -> None:
    """Tell the shop's other systems to erase the customer too. The one message that still
    names the erased id: it is what the receiver needs, and it is deleted after delivery
    like every other message (``REINFORCE_WEBHOOK_RETENTION_DAYS``)."""
    await emit(
        session,
        EventType.customer_erased,
        {"customer_id": customer_id, "erased_at": erased_at.isoformat().replace("+00:00", "Z")},
    )
