"""Referral codes: one per customer, made on first read, short and read-aloud safe."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service as customers
from app.database import insert_for
from app.models import ReferralCode
from app.models.base import table_of, utcnow
from app.rewards.codes import new_code

REFERRAL_CODE_LENGTH = 8  # 31^8: about 8.5 * 10^11 codes
# A fresh code colliding with a taken one is rare; a few draws always find a free one.
_DRAWS = 8


async def code_for(session: AsyncSession, customer_id: str) -> str:
    """The customer's referral code, made now if they have none."""
    await customers.get(session, customer_id)
    existing = await session.scalar(
        select(ReferralCode.code).where(ReferralCode.customer_id == customer_id)
    )
    if existing is not None:
        return existing
    # Any conflict does nothing: the customer's (a concurrent first read made it) or the
    # code's (taken by someone else: draw again).
    statement = insert_for(session)(table_of(ReferralCode)).on_conflict_do_nothing()
    for _ in range(_DRAWS):
        values = {
            "code": new_code(REFERRAL_CODE_LENGTH),
            "customer_id": customer_id,
            "created_at": utcnow(),
        }
        await session.execute(statement, values)
        made = await session.scalar(
            select(ReferralCode.code).where(ReferralCode.customer_id == customer_id)
        )
        if made is not None:
            return made
    raise RuntimeError("no free referral code after several draws")
