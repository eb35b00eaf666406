"""The rewards catalog, claims, coupons and referral codes as the API takes and answers them."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.events.schemas import Amount, Currency
from app.ledger.schemas import BalanceOut
from app.rules.facts import resolve_fact
from app.rules.schemas import (
    Condition,
    OperandError,
    PerCustomerLimit,
    _check_tree_size,
    iter_comparisons,
    normalize_operand,
)
from app.schemas import MAX_AWARD_POINTS, MAX_DB_INT, BoundedDatetime, ExternalId

RewardKind = Literal[
    "discount_fixed", "discount_percent", "free_shipping", "free_product", "gift", "custom"
]
CouponStatus = Literal["active", "used", "expired", "void"]
# What a checkout may type and a path segment can carry.
CODE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
CouponCode = Annotated[str, StringConstraints(pattern=CODE_PATTERN, min_length=1, max_length=64)]
MAX_IMPORTED_CODES = 10_000
REWARD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
RewardIdText = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=REWARD_ID_PATTERN)
]


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> InitErrorDetails:
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


def _raise(title: str, errors: list[InitErrorDetails]) -> None:
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def eligibility_errors(condition: Any) -> list[InitErrorDetails]:
    """An eligibility condition reads the customer's facts only (tier, badges, ...)."""
    errors: list[InitErrorDetails] = []
    for loc, comparison in iter_comparisons(condition, ("eligibility",)):
        spec = resolve_fact(comparison.fact, [])
        if spec is None or not comparison.fact.startswith("customer."):
            errors.append(
                _error(
                    (*loc, "fact"),
                    "unknown_fact",
                    f"Eligibility reads customer facts only (customer.tier, customer.badges, "
                    f"...), not {comparison.fact!r}.",
                    comparison.fact,
                )
            )
            continue
        try:
            normalize_operand(spec, comparison.op, comparison.value)
        except OperandError as exc:
            bad = comparison.op if exc.field == "op" else comparison.value
            errors.append(_error((*loc, exc.field), f"invalid_{exc.field}", exc.message, bad))
    return errors


class _RewardFields(BaseModel):
    """The fields of a reward document, every one optional (a PATCH names a few)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    cost_points: int | None = Field(
        default=None, gt=0, le=MAX_AWARD_POINTS, description="Points a claim spends."
    )
    kind: RewardKind | None = Field(
        default=None,
        description="discount_fixed (with `value` and `currency`), discount_percent (`value` "
        "1-100), free_shipping, free_product (`product_id`), gift or custom.",
    )
    value: Amount | None = Field(
        default=None,
        description="discount_fixed: the amount off, in `currency`; discount_percent: the "
        "percentage, a whole number from 1 to 100.",
    )
    currency: Currency | None = Field(default=None, description="discount_fixed only.")
    product_id: ExternalId | None = Field(default=None, description="free_product only.")
    per_customer_limit: PerCustomerLimit | None = Field(
        default=None, description="How many claims one customer may make per period."
    )
    active_from: BoundedDatetime | None = Field(
        default=None, description="Claimable from this time on."
    )
    active_until: BoundedDatetime | None = Field(
        default=None, description="Claimable strictly before this time; after active_from."
    )
    eligibility: Condition | None = Field(
        default=None,
        description="Who may claim it: a condition in the rules' language over `customer.*` "
        "facts only, e.g. "
        '`{"fact": "customer.tier", "op": "eq", "value": "gold"}`.',
    )
    coupon_validity_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days a claim's coupon stays valid."
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded_tree(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("eligibility") is not None:
            errors = _check_tree_size(data["eligibility"])
            for error in errors:
                error["loc"] = ("eligibility", *error["loc"][1:])
            _raise(cls.__name__, errors)
        return data


class RewardDocument(_RewardFields):
    """A reward of the catalog, as stored in each of its versions."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "10 EUR voucher",
                    "cost_points": 500,
                    "kind": "discount_fixed",
                    "value": "10",
                    "currency": "EUR",
                    "coupon_validity_days": 30,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    cost_points: int = Field(gt=0, le=MAX_AWARD_POINTS, description="Points a claim spends.")
    kind: RewardKind = Field(
        description="discount_fixed (with `value` and `currency`), discount_percent (`value` "
        "1-100), free_shipping, free_product (`product_id`), gift or custom."
    )
    coupon_validity_days: int = Field(
        default=30, ge=1, le=3650, description="Days a claim's coupon stays valid."
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        errors: list[InitErrorDetails] = []
        wanted = {
            "discount_fixed": {"value", "currency"},
            "discount_percent": {"value"},
            "free_product": {"product_id"},
        }.get(self.kind, set())
        for name in ("value", "currency", "product_id"):
            given = getattr(self, name) is not None
            if name in wanted and not given:
                errors.append(
                    _error((name,), "missing", f"A {self.kind} reward needs '{name}'.", None)
                )
            elif given and name not in wanted:
                errors.append(
                    _error(
                        (name,),
                        "extra_forbidden",
                        f"'{name}' does not apply to a {self.kind} reward.",
                        getattr(self, name),
                    )
                )
        percent = self.value if self.kind == "discount_percent" else None
        if percent is not None and (
            percent != percent.to_integral_value() or not 1 <= percent <= 100
        ):
            errors.append(
                _error(
                    ("value",),
                    "percent",
                    "A percentage is a whole number from 1 to 100.",
                    str(percent),
                )
            )
        if (
            self.active_from is not None
            and self.active_until is not None
            and self.active_until <= self.active_from
        ):
            errors.append(
                _error(
                    ("active_until",),
                    "window_order",
                    "active_until must be after active_from.",
                    self.active_until.isoformat(),
                )
            )
        if self.eligibility is not None:
            errors.extend(eligibility_errors(self.eligibility))
        _raise(type(self).__name__, errors)
        return self


Stock = Annotated[
    int,
    Field(ge=0, le=MAX_DB_INT, description="Units left; absent or null: unlimited."),
]


class RewardIn(RewardDocument):
    stock: Stock | None = None


class RewardPatch(_RewardFields):
    """The fields to change; the others keep their values. Setting one to null removes it
    (for the optional ones). Any change but `stock` makes a new version."""

    stock: Stock | None = None


class RewardOut(BaseModel):
    id: str
    version: int = Field(description="The current version; a claim records the one it bought.")
    name: str
    description: str
    cost_points: int
    kind: RewardKind
    value: Decimal | None = None
    currency: str | None = None
    product_id: str | None = None
    stock: int | None = Field(description="Units left; null: unlimited.")
    per_customer_limit: PerCustomerLimit | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    eligibility: dict[str, Any] | None = None
    coupon_validity_days: int
    pooled: bool = Field(description="Coupons come from imported codes.")
    created_at: datetime
    updated_at: datetime


class RewardListOut(BaseModel):
    items: list[RewardOut]


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_id: RewardIdText


class CouponOut(BaseModel):
    """A coupon, as the checkout reads it."""

    code: str
    status: CouponStatus
    customer_id: str
    reward_id: str
    claim_id: str
    kind: RewardKind
    value: Decimal | None = None
    currency: str | None = None
    product_id: str | None = None
    issued_at: datetime
    expires_at: datetime
    order_id: str | None = Field(default=None, description="The order that used it.")
    used_at: datetime | None = None


class ClaimOut(BaseModel):
    claim_id: str
    customer_id: str
    reward_id: str
    reward_version: int
    points: int = Field(description="Points spent.")
    coupon: CouponOut
    balance: BalanceOut
    created_at: datetime


class VoidOut(BaseModel):
    claim_id: str
    customer_id: str
    status: Literal["void"] = "void"
    points_returned: int
    coupon: CouponOut
    balance: BalanceOut


class CouponRedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: ExternalId = Field(description="The order the coupon is used on.")


class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[CouponCode] = Field(
        min_length=1,
        max_length=MAX_IMPORTED_CODES,
        description="Codes your platform generated, up to 10,000 a request; each is used once.",
    )

    @field_validator("codes")
    @classmethod
    def _unique(cls, codes: list[str]) -> list[str]:
        seen: set[str] = set()
        for code in codes:
            if code in seen:
                raise ValueError(f"code {code!r} appears twice")
            seen.add(code)
        return codes


class CodesOut(BaseModel):
    reward_id: str
    imported: int
    available: int = Field(description="Codes of the pool no claim has taken yet.")


class ReferralCodeOut(BaseModel):
    code: str = Field(description="Short, stable, shareable; send it as `data.referral_code`.")
    customer_id: str


class MyRewardOut(RewardOut):
    affordable: bool = Field(description="The shopper has the points.")
    eligible: bool = Field(description="The eligibility condition holds and a claim is open.")
    reasons: list[str] = Field(description="Why it cannot be claimed now; empty when it can.")


class MyRewardListOut(BaseModel):
    items: list[MyRewardOut]


class CouponListOut(BaseModel):
    items: list[CouponOut]
