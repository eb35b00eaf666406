"""The customer list and the profile the shop owns.

Filters are a list of independent clauses (``CustomerFilter.clauses``), so that another
one (a saved segment, say) is one more field and one more clause.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service as customers
from app.customers.schemas import Aggregates, CustomerSummary, ProfileOut
from app.gamification import service as leaderboards
from app.keyset import before
from app.models import Customer
from app.models.base import utcnow

PROFILE_FIELDS = (
    "display_name",
    "reference",
    "marketing_opt_in",
    "leaderboard_opt_out",
    "birthday",
)


@dataclass(frozen=True)
class CustomerFilter:
    q: str | None = None
    tier: str | None = None
    # A saved segment's members (``app.segments.service.members``).
    segment: Select[tuple[str]] | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        # The pseudonymous rows erasures leave behind are no one's: never listed.
        clauses: list[ColumnElement[bool]] = [Customer.erased_at.is_(None)]
        if self.q:
            needle = self.q.lower()
            clauses.append(
                func.lower(Customer.id).contains(needle, autoescape=True)
                | func.lower(Customer.display_name).contains(needle, autoescape=True)
                | func.lower(Customer.reference).contains(needle, autoescape=True)
            )
        if self.tier is not None:
            clauses.append(Customer.tier == self.tier)
        if self.segment is not None:
            clauses.append(Customer.id.in_(self.segment))
        return clauses


def summary(customer: Customer) -> CustomerSummary:
    return CustomerSummary(
        id=customer.id,
        created_at=customer.created_at,
        first_seen_at=customer.first_seen_at,
        tier=customer.tier,
        aggregates=Aggregates.model_validate(customer),
        profile=ProfileOut.model_validate(customer),
    )


async def page(
    session: AsyncSession,
    where: CustomerFilter,
    *,
    after: tuple[Any, str] | None,
    limit: int,
) -> list[Customer]:
    """Newest first (by when the service first saw them), ``limit`` at most."""
    statement = select(Customer).where(*where.clauses())
    if after is not None:
        statement = statement.where(before(Customer.created_at, Customer.id, after))
    statement = statement.order_by(Customer.created_at.desc(), Customer.id.desc()).limit(limit)
    return list(await session.scalars(statement))


async def update_profile(
    session: AsyncSession, customer_id: str, changes: dict[str, Any]
) -> Customer:
    """Apply the fields given (``None`` clears); 404 for an unknown customer."""
    customer = await customers.lock(session, customer_id)
    for name in PROFILE_FIELDS:
        if name in changes:
            setattr(customer, name, changes[name])
    customer.profile_updated_at = utcnow()
    await session.flush()
    if "leaderboard_opt_out" in changes:
        # Under the customer's lock, which the pipeline takes before it adds to their
        # scores: no score row escapes the change.
        await leaderboards.set_hidden(session, customer_id, bool(changes["leaderboard_opt_out"]))
    return customer
