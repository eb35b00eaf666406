"""Wire shapes of the reports: the aggregates the dashboard draws that no metric gives."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ReportWindow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Start of the window (inclusive, UTC).")
    to: datetime = Field(description="End of the window (exclusive, UTC).")


class EventDayCount(BaseModel):
    day: str = Field(description="The UTC day, YYYY-MM-DD.")
    type: str = Field(description="The event type.")
    events: int = Field(description="Events of that type that happened on that day.")


class EventsPerDayOut(ReportWindow):
    days: list[EventDayCount] = Field(
        description="One row per day and type with events, oldest day first; days and types "
        "without events are left out."
    )


class PointsWeek(BaseModel):
    week: str = Field(description="The ISO week's Monday (UTC), YYYY-MM-DD.")
    issued: int = Field(description="Points earned and positive adjustments.")
    redeemed: int = Field(description="Points redeemed (a positive number).")
    expired: int = Field(description="Points expired (a positive number).")


class PointsPerWeekOut(ReportWindow):
    weeks: list[PointsWeek] = Field(
        description="One row per week with movements, oldest first, by when the movement's "
        "source happened; the first and last weeks may be partial."
    )
    liability: int = Field(
        description="Outstanding points now: what every customer's open lots still hold "
        "(a debt left by a refund is not counted against it)."
    )


class TierCount(BaseModel):
    tier: str | None = Field(description="The tier; null: customers without one.")
    customers: int


class TierDistributionOut(BaseModel):
    tiers: list[TierCount] = Field(description="Customers by current tier, most first.")
    customers: int = Field(description="Every customer (erased ones included).")


class RuleActivity(BaseModel):
    rule_id: str
    firings: int = Field(description="Ledger credits the rule made in the window.")
    points: int = Field(description="Points those credits carried.")
    customers: int = Field(description="Distinct customers credited.")


class RuleActivityOut(ReportWindow):
    rules: list[RuleActivity] = Field(
        description="Each rule that credited points in the window, most points first."
    )
