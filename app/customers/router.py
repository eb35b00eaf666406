from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.customers import directory, erasure, export, views
from app.customers.privacy_schemas import CustomerExport, ErasureOut
from app.customers.schemas import (
    CustomerOut,
    CustomerSummary,
    ProfileIn,
)
from app.database import ReadSession, Session
from app.errors import InvalidCursor, problem_responses
from app.keyset import decode_keyset, encode_keyset
from app.models.base import utcnow
from app.models.customer import PROFILE_TEXT_LENGTH
from app.rules.schemas import SLUG_PATTERN
from app.schemas import MAX_PAGE_SIZE, ExternalId, Page
from app.segments import service as segments
from app.segments.router import FrequencyDays

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[ExternalId, Path(description="The shop's customer id.")]


# No control characters (PostgreSQL text cannot even hold NUL): a search never needs them.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


@router.get(
    "",
    response_model=Page[CustomerSummary],
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)
async def list_customers(
    session: ReadSession,
    days: FrequencyDays,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=PROFILE_TEXT_LENGTH,
            pattern=PRINTABLE,
            description="Part of the customer id, display name or reference (any case).",
        ),
    ] = None,
    tier: Annotated[
        str | None,
        Query(min_length=1, max_length=50, pattern=PRINTABLE, description="Only this tier."),
    ] = None,
    segment: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=50,
            pattern=SLUG_PATTERN,
            description="Only this saved segment's members.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=400, description="From `next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[CustomerSummary]:
    """Customers, newest first (by when the service first saw them), a page at a time;
    `q`, `tier` and `segment` narrow the list (all of them at once, when given)."""
    after = None
    if cursor is not None:
        after = decode_keyset(cursor)
        if after is None:
            raise InvalidCursor("The cursor is not one this API issued.")
    members = None
    if segment is not None:
        chosen = await segments.get(session, segment)
        members = await segments.members(session, segments.condition_of(chosen), utcnow(), days)
    where = directory.CustomerFilter(q=q, tier=tier, segment=members)
    found = await directory.page(session, where, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if more else None
    return Page[CustomerSummary](
        items=[directory.summary(c) for c in found],
        next_cursor=encode_keyset(last.created_at, last.id) if last is not None else None,
    )


@router.patch(
    "/{customer_id}",
    response_model=CustomerSummary,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def update_profile(
    customer_id: CustomerId, body: ProfileIn, session: Session
) -> CustomerSummary:
    """Change the profile fields the shop owns: display name, reference, the consent flags
    (marketing opt-in, leaderboard opt-out) and birthday. Only the fields sent change;
    `null` clears a text or the birthday. The customer must exist (events create them)."""
    changes = body.model_dump(include=body.model_fields_set)
    customer = await directory.update_profile(session, customer_id, changes)
    return directory.summary(customer)


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)
async def get_customer(
    customer_id: CustomerId, session: ReadSession, days: FrequencyDays
) -> CustomerOut:
    """A customer's points, tier, badges, perks, purchase aggregates and targeting facts
    (with the segments they belong to)."""
    view = await views.customer_view(session, customer_id)
    view.facts = await segments.facts_of(session, customer_id, days)
    return view


@router.get(
    "/{customer_id}/export",
    response_model=CustomerExport,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)
async def export_customer(customer_id: CustomerId, session: ReadSession) -> CustomerExport:
    """Everything held about the customer, as one JSON document (GDPR article 15): profile,
    balance, events with their answers, ledger, badges, perks, survey answers, orders and
    the referrals they made."""
    return await export.export(session, customer_id)


@router.delete(
    "/{customer_id}",
    response_model=ErasureOut,
    responses=problem_responses(401, 403, 422),
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def erase_customer(customer_id: CustomerId, session: Session) -> ErasureOut:
    """Erase the customer's personal data (GDPR article 17): the profile, the events'
    attributes, free text and free-form data go; the customer id is replaced everywhere by
    a random pseudonym, under which the ledger, orders, referrals, badges, tier and the
    events' types, times, amounts and scores stay, so that every metric over past windows
    is unchanged. Sends a `customer.erased` webhook. A repeat (or an unknown id) answers
    `erased: false` and changes nothing."""
    erased = await erasure.erase(session, customer_id)
    if erased is None:
        return ErasureOut(customer_id=customer_id, erased=False, erased_at=None)
    return ErasureOut(
        customer_id=customer_id, erased=True, erased_at=erased.erased_at, records=erased.rows
    )
