"""Coupon expiry notices, run by ``reinforce expire`` or periodically inside ``reinforce serve``.

A coupon expires by itself (it reads as expired once past ``expires_at``); this job only
sends each expired, unused coupon's ``coupon.expired`` webhook, once: the row is marked in
the transaction that writes the message. Batches are small transactions, as for points.
"""

import asyncio
import logging
from datetime import datetime

from sqlalchemy import select, update

from app.database import Database
from app.models import Coupon
from app.models.base import utcnow
from app.webhooks import outbox
from app.webhooks.outbox import WebhookEventType

logger = logging.getLogger(__name__)

BATCH = 100


def _due(now: datetime) -> object:
    return (
        select(Coupon.code)
        .where(
            Coupon.status == "active",
            Coupon.expired_notified_at.is_(None),
            Coupon.expires_at <= now,
        )
        .order_by(Coupon.expires_at, Coupon.code)
        .limit(BATCH)
        # Two runs at once share the work instead of queueing on the same rows.
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )


async def notify_expired(database: Database, now: datetime | None = None) -> int:
    """Send ``coupon.expired`` for every coupon past its date and unused; answers how many."""
    now = now or utcnow()
    total = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    update(Coupon)
                    .where(Coupon.code.in_(_due(now)))  # type: ignore[arg-type]
                    .values(expired_notified_at=now)
                    .returning(
                        Coupon.code,
                        Coupon.customer_id,
                        Coupon.reward_id,
                        Coupon.claim_id,
                        Coupon.expires_at,
                    )
                )
            ).all()
            for row in rows:
                await outbox.emit(
                    session,
                    WebhookEventType.coupon_expired,
                    {
                        "code": row.code,
                        "customer_id": row.customer_id,
                        "reward_id": row.reward_id,
                        "claim_id": row.claim_id,
                        "expires_at": row.expires_at.isoformat().replace("+00:00", "Z"),
                    },
                )
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def run_periodically(database: Database, interval_seconds: int) -> None:
    while True:
        try:
            notified = await notify_expired(database)
            if notified:
                logger.info("expired coupons notified", extra={"coupons": notified})
        except Exception:  # a failed run is retried at the next tick, never fatal
            logger.exception("coupon expiry failed")
        await asyncio.sleep(interval_seconds)
