from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.schemas import ExternalId

# Something besides spaces (they are stripped), and no NUL, which PostgreSQL cannot store.
Reason = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=200,
        strip_whitespace=True,
        pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
    ),
]
Points = Annotated[int, Field(ge=1, le=1_000_000_000)]


class BalanceOut(BaseModel):
    """A customer's points, adding up: `earned - redeemed - expired - reversed + adjusted =
    available + pending`."""

    # Answers stored before `earned`, `reversed` and `adjusted` existed are replayed as they
    # were stored; the defaults only fill those (`earned` from `lifetime_earned`). Every
    # answer written now carries all of them, so the document lists them as required.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    available: int = Field(description="Spendable now (negative while a refund's debt is open).")
    pending: int = Field(description="Earned, but still inside the return window.")
    lifetime_earned: int = Field(
        description="Every point ever earned from events (the same as `earned`; kept for "
        "existing integrations)."
    )
    redeemed: int = Field(description="Spent by redemptions.")
    expired: int = Field(
        description="Lost to expiry, counting lots past their expiry date that the expiry "
        "job has not processed yet."
    )
    earned: int = Field(default=0, description="Every point ever earned from events.")
    reversed: int = Field(default=0, description="Taken back by refunds.")
    adjusted: int = Field(
        default=0,
        description="Administrators' corrections and bulk awards, signed: credits minus debits.",
    )

    @model_validator(mode="before")
    @classmethod
    def _earned_of_older_answers(cls, data: Any) -> Any:
        if isinstance(data, dict) and "earned" not in data and "lifetime_earned" in data:
            return {**data, "earned": data["lifetime_earned"]}
        return data


class LedgerEntryOut(BaseModel):
    """One movement of points, and why it happened."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="earn, redeem, expire, reverse or adjust.")
    points: int = Field(description="Signed: positive credits, negative debits.")
    reason: str
    event_id: str | None = Field(description="The event that caused it, if any.")
    rule_id: str | None = Field(description="The rule that decided it, if any.")
    reference: str | None
    created_at: datetime = Field(description="When the entry was written.")
    occurred_at: datetime = Field(
        description="When its source event happened; for an entry without one (a redemption, "
        "an adjustment), when it was written."
    )


class RedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: Points
    reason: Reason = Field(examples=["voucher 10 EUR"])
    reference: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Your reference, e.g. the order the voucher was used on."
    )


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)] = Field(
        description="Positive to credit, negative to debit; never zero.",
        json_schema_extra={"not": {"const": 0}},
    )
    reason: Reason = Field(examples=["goodwill: late delivery"])

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment moves at least one point")
        return value


class Movement(BaseModel):
    """A redemption or adjustment, with the balance after it."""

    entry_id: int
    customer_id: str
    kind: str
    points: int
    reason: str
    reference: str | None
    created_at: datetime
    balance: BalanceOut


class BulkAward(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: ExternalId
    points: Points


class BulkAwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(examples=["anniversary gift"])
    awards: list[BulkAward] = Field(min_length=1, max_length=1000)
    create_customers: bool = Field(
        default=False,
        description="Create the customers that do not exist yet. By default an award to an "
        "unknown customer is refused on its own (listed in `refused`), as a single "
        "adjustment is, and the others are made.",
    )

    @field_validator("awards")
    @classmethod
    def _one_award_per_customer(cls, awards: list[BulkAward]) -> list[BulkAward]:
        seen: set[str] = set()
        for award in awards:
            if award.customer_id in seen:
                raise ValueError(f"customer {award.customer_id!r} appears twice")
            seen.add(award.customer_id)
        return awards


class BulkAwardRefused(BaseModel):
    customer_id: str
    status: int = Field(description="What a single adjustment would have answered: 404.")
    problem: dict[str, Any] = Field(description="An RFC 9457 problem document.")


class BulkAwardOut(BaseModel):
    count: int = Field(description="Awards made.")
    points: int = Field(description="Points the awards made gave, in all.")
    entries: dict[str, int] = Field(description="Ledger entry id per customer id.")
    refused: list[BulkAwardRefused] = Field(
        default_factory=list, description="Awards not made, each with its problem."
    )
