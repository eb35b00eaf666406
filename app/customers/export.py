"""Everything held about a customer as one document (GDPR article 15).

One reader per section, run in order: a new kind of record (coupons, say) is one more
reader here and one more field in ``CustomerExport``.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service
from app.customers.privacy_schemas import (
    CustomerExport,
    ExportedChallengeProgress,
    ExportedCustomer,
    ExportedExposure,
    ExportedReferral,
    ExportedScore,
    ExportedStreak,
    OrderOut,
    SurveyAnswerOut,
)
from app.customers.schemas import Aggregates, BadgeOut, PerkOut, ProfileOut
from app.events.read_schemas import StoredEvent, StoredEventDetail
from app.ledger import service as ledger
from app.ledger.schemas import BalanceOut, LedgerEntryOut
from app.models import (
    ChallengeProgress,
    CustomerPerk,
    CustomerStreak,
    Event,
    ExperimentExposure,
    LeaderboardScore,
    LedgerEntry,
    Order,
    Referral,
)
from app.models.base import utcnow

Reader = Callable[[AsyncSession, str], Awaitable[list[Any]]]


async def _events(session: AsyncSession, customer_id: str) -> list[StoredEventDetail]:
    rows = await session.scalars(
        select(Event).where(Event.customer_id == customer_id).order_by(Event.occurred_at, Event.id)
    )
    return [
        StoredEventDetail.model_validate(
            {**StoredEvent.model_validate(e).model_dump(), "answer": e.response}
        )
        for e in rows
    ]


async def _ledger(session: AsyncSession, customer_id: str) -> list[LedgerEntryOut]:
    rows = await session.scalars(
        select(LedgerEntry).where(LedgerEntry.customer_id == customer_id).order_by(LedgerEntry.id)
    )
    return [LedgerEntryOut.model_validate(e) for e in rows]


async def _badges(session: AsyncSession, customer_id: str) -> list[BadgeOut]:
    return [
        BadgeOut(badge=b.badge, awarded_at=b.awarded_at)
        for b in await service.badges(session, customer_id)
    ]


async def _perks(session: AsyncSession, customer_id: str) -> list[PerkOut]:
    rows = await session.scalars(
        select(CustomerPerk)
        .where(CustomerPerk.customer_id == customer_id)
        .order_by(CustomerPerk.granted_at, CustomerPerk.id)
    )
    return [PerkOut(perk=p.perk, granted_at=p.granted_at, expires_at=p.expires_at) for p in rows]


async def _survey_answers(session: AsyncSession, customer_id: str) -> list[SurveyAnswerOut]:
    rows = await session.execute(
        select(Event.id, Event.occurred_at, Event.channel, Event.survey, Event.score, Event.data)
        .where(Event.customer_id == customer_id, Event.survey.is_not(None))
        .order_by(Event.occurred_at, Event.id)
    )
    return [
        SurveyAnswerOut(
            event_id=r.id,
            occurred_at=r.occurred_at,
            channel=r.channel,
            survey=r.survey,
            score=r.score,
            comment=r.data.get("comment"),
        )
        for r in rows
    ]


async def _orders(session: AsyncSession, customer_id: str) -> list[OrderOut]:
    rows = await session.scalars(
        select(Order)
        .join(Event, Event.id == Order.purchase_event_id)
        .where(Order.customer_id == customer_id)
        .order_by(Event.occurred_at, Order.id)
    )
    return [OrderOut.model_validate(o) for o in rows]


def _rows(schema: Any, column: Any, *order: Any) -> Reader:
    """A section that is the customer's rows of one table, each as ``schema``."""

    async def read(session: AsyncSession, customer_id: str) -> list[Any]:
        rows = await session.scalars(
            select(column.class_).where(column == customer_id).order_by(*order)
        )
        return [schema.model_validate(r) for r in rows]

    return read


SECTIONS: dict[str, Reader] = {
    "events": _events,
    "ledger": _ledger,
    "badges": _badges,
    "perks": _perks,
    "survey_answers": _survey_answers,
    "orders": _orders,
    "referrals": _rows(
        ExportedReferral,
        Referral.referrer_id,
        Referral.occurred_at,
        Referral.referred_customer_id,
    ),
    "experiments": _rows(
        ExportedExposure,
        ExperimentExposure.customer_id,
        ExperimentExposure.exposed_at,
        ExperimentExposure.experiment_id,
    ),
    "leaderboard_scores": _rows(
        ExportedScore,
        LeaderboardScore.customer_id,
        LeaderboardScore.leaderboard_id,
        LeaderboardScore.period_key,
    ),
    "streaks": _rows(ExportedStreak, CustomerStreak.customer_id, CustomerStreak.streak_id),
    "challenges": _rows(
        ExportedChallengeProgress, ChallengeProgress.customer_id, ChallengeProgress.challenge_id
    ),
}


async def export(session: AsyncSession, customer_id: str) -> CustomerExport:
    """404 for an unknown (or erased) customer."""
    customer = await service.get(session, customer_id)
    now = utcnow()
    points = await ledger.balance(session, customer, now)
    sections = {name: await read(session, customer.id) for name, read in SECTIONS.items()}
    return CustomerExport(
        exported_at=now,
        customer=ExportedCustomer(
            id=customer.id,
            created_at=customer.created_at,
            first_seen_at=customer.first_seen_at,
            tier=customer.tier,
            tier_changed_at=customer.tier_changed_at,
            profile=ProfileOut.model_validate(customer),
            aggregates=Aggregates.model_validate(customer),
            points=BalanceOut.model_validate(points),
        ),
        **sections,
    )
