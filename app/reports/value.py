"""Reports over the latest stored predictive CLTV fit: how its customers' predicted value
is spread, and the valuable customers it thinks are slipping away."""

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import CltvFit, CltvPrediction, Customer

MAX_BINS = 50
MAX_AT_RISK = 100


class NoStoredFit(NotFound):
    slug = "no-stored-fit"
    title = "No predictive CLTV fit is stored"


class FitRef(BaseModel):
    model_config = {"populate_by_name": True}

    fitted_at: datetime
    window_from: datetime | None = Field(description="The fit's `from`; null: every customer.")
    window_to: datetime = Field(description="The fit read purchases before this instant.")
    time_unit: str


class ValueBin(BaseModel):
    model_config = {"populate_by_name": True}

    from_: float = Field(alias="from", description="Lower bound (inclusive).")
    to: float = Field(description="Upper bound (exclusive; the last bin includes it).")
    customers: int


class CltvDistributionOut(BaseModel):
    fit: FitRef
    customers: int = Field(description="Customers with a predicted CLTV in the fit.")
    bins: list[ValueBin] = Field(description="Equal-width bins from the lowest to the highest.")


class AtRiskCustomer(BaseModel):
    customer_id: str
    lifetime_spend: float = Field(description="Purchases minus refunds so far.")
    purchase_count: int
    last_purchase_at: datetime | None
    p_alive: float
    predicted_clv: float | None


class AtRiskOut(BaseModel):
    fit: FitRef
    max_p_alive: float
    customers: list[AtRiskCustomer] = Field(
        description="Customers whose P(alive) is below `max_p_alive`, highest spend first."
    )


async def _latest(session: AsyncSession) -> CltvFit:
    fit = await session.scalar(
        select(CltvFit).order_by(CltvFit.fitted_at.desc(), CltvFit.id.desc()).limit(1)
    )
    if fit is None:
        raise NoStoredFit(
            "No predictive CLTV fit is stored yet: `POST /v1/metrics/cltv/fits` fits one."
        )
    return fit


def _ref(fit: CltvFit) -> FitRef:
    return FitRef(
        fitted_at=fit.fitted_at,
        window_from=fit.window_from,
        window_to=fit.window_to,
        time_unit=fit.time_unit,
    )


async def distribution(session: AsyncSession, bins: int) -> CltvDistributionOut:
    fit = await _latest(session)
    value = CltvPrediction.predicted_clv
    scope = (CltvPrediction.fit_id == fit.id, value.is_not(None))
    row = (
        await session.execute(select(func.min(value), func.max(value), func.count()).where(*scope))
    ).one()
    count = int(row[2])
    if not count:
        return CltvDistributionOut(fit=_ref(fit), customers=0, bins=[])
    low, high = float(row[0] or 0), float(row[1] or 0)
    width = (high - low) / bins or 1.0
    # The bin index in SQL, so that a million predictions are counted, not fetched.
    index = func.min(func.floor((value - low) / width), bins - 1).label("bin")
    if session.get_bind().dialect.name == "postgresql":
        index = func.least(func.floor((value - low) / width), bins - 1).label("bin")
    rows = (await session.execute(select(index, func.count()).where(*scope).group_by(index))).all()
    counts = {int(b): int(n) for b, n in rows}
    return CltvDistributionOut(
        fit=_ref(fit),
        customers=int(count),
        bins=[
            ValueBin(from_=low + i * width, to=low + (i + 1) * width, customers=counts.get(i, 0))
            for i in range(bins)
        ],
    )


async def at_risk(session: AsyncSession, limit: int, max_p_alive: float) -> AtRiskOut:
    fit = await _latest(session)
    statement = (
        select(
            Customer.id,
            Customer.lifetime_spend,
            Customer.purchase_count,
            Customer.last_purchase_at,
            CltvPrediction.p_alive,
            CltvPrediction.predicted_clv,
        )
        .join(Customer, Customer.id == CltvPrediction.customer_id)
        .where(CltvPrediction.fit_id == fit.id, CltvPrediction.p_alive < max_p_alive)
        .order_by(Customer.lifetime_spend.desc(), Customer.id)
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    return AtRiskOut(
        fit=_ref(fit),
        max_p_alive=max_p_alive,
        customers=[
            AtRiskCustomer(
                customer_id=r.id,
                lifetime_spend=float(r.lifetime_spend),
                purchase_count=r.purchase_count,
                last_purchase_at=r.last_purchase_at,
                p_alive=r.p_alive,
                predicted_clv=r.predicted_clv,
            )
            for r in rows
        ],
    )
