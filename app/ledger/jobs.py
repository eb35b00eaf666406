"""Point expiry, run by ``reinforce expire`` or periodically inside ``reinforce serve``.

A job owns its transactions: one per small batch of customers, so that a long run never
holds locks for long and a crash loses at most one uncommitted batch, which the next run
redoes. Running it twice changes nothing the second time.
"""

import asyncio
import logging
from datetime import datetime

from app.customers import service as customers
from app.database import Database
from app.ledger import service as ledger
from app.models.base import utcnow

logger = logging.getLogger(__name__)

BATCH = 100


async def expire_due(database: Database, now: datetime | None = None) -> int:
    """Expire every lot past its date; answers the points expired."""
    now = now or utcnow()
    total = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            ids = await ledger.customers_with_expired_lots(session, now, BATCH)
            for customer_id in ids:
                customer = await customers.lock(session, customer_id)
                total += await ledger.expire_lots(session, customer, now)
        if len(ids) < BATCH:
            return total


async def run_periodically(database: Database, interval_seconds: int) -> None:
    while True:
        try:
            expired = await expire_due(database)
            if expired:
                logger.info("expired points", extra={"points": expired})
        except Exception:  # a failed run is retried at the next tick, never fatal
            logger.exception("point expiry failed")
        await asyncio.sleep(interval_seconds)
