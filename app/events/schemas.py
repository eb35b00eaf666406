"""The event envelope and the typed ``data`` of each event type."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.events.types import EventType
from app.ledger.schemas import BalanceOut
from app.schemas import (
    FREE_JSON_RULES,
    MAX_YEAR,
    MIN_YEAR,
    BoundedDatetime,
    ExternalId,
    free_json_errors,
)

# Below 10^10 with 4 decimals: numeric(18,4) columns (order amounts, a customer's lifetime
# spend) hold ten thousand orders of the largest amount.
MAX_AMOUNT = Decimal("9999999999.9999")
# A positive decimal as plain text: no exponent, sign, spaces or leading zeros.
_AMOUNT_PATTERN = (
    r"^([1-9][0-9]{0,9}(\.[0-9]{1,4})?"
    r"|0\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9]))$"
)
_AMOUNT_TEXT = re.compile(_AMOUNT_PATTERN)


def _amount_text(value: object) -> object:
    if isinstance(value, str) and not _AMOUNT_TEXT.match(value):
        raise PydanticCustomError(
            "decimal_parsing",
            "an amount is a positive decimal such as '49.90': at most 10 digits before "
            "the point and 4 after, no sign, exponent or spaces",
        )
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_text),
    Field(
        gt=0,
        le=MAX_AMOUNT,
        max_digits=14,
        decimal_places=4,
        description="A positive decimal below 10^10 with at most 4 decimal places, as a "
        "string (preferred, exact) or a number.",
        examples=["49.90"],
    ),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_AMOUNT)},
                {"type": "string", "pattern": _AMOUNT_PATTERN},
            ]
        }
    ),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 code, three capital letters.", examples=["EUR"]),
]
# PostgreSQL text cannot hold NUL; stated as a pattern so that the document says so.
_NO_NUL = r"^[^\x00]*$"
ShortText = Annotated[str, StringConstraints(max_length=100, pattern=_NO_NUL)]
LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=_NO_NUL)]
Attributes = Annotated[
    dict[str, Any],
    Field(
        description='Free shop-specific facts (for example `{"store": "berlin"}`) '
        f"that rules can read as `attributes.<name>`: at most 50 members, {FREE_JSON_RULES}.",
        max_length=50,
    ),
]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


ReferralCodeText = Annotated[
    str,
    StringConstraints(max_length=100, pattern=_NO_NUL),
    Field(
        description="A referral code another customer shared (`GET /v1/customers/{id}/"
        "referral-code`): the referral is recorded for them, and the event's rules see "
        "`event.referred`. A code that cannot be used never fails the event; the answer's "
        "`referral` says why it was not recorded.",
        examples=["K7M2Q9XD"],
    ),
]


class _Referable(BaseModel):
    """Data that may carry a referral code. Left out of the body when absent, so that
    events posted before codes existed keep their stored body and hash."""

    referral_code: ReferralCodeText | None = None

    @model_serializer(mode="wrap")
    def _without_absent_code(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        body = handler(self)
        if isinstance(body, dict) and body.get("referral_code", "") is None:
            del body["referral_code"]
        return body


class PurchaseItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    sku: ShortText | None = None
    quantity: int = Field(default=1, ge=1, le=100_000)
    price: Amount | None = None


class PurchaseData(_Data, _Referable):
    order_id: ExternalId
    amount: Amount
    currency: Currency
    items: list[PurchaseItem] | None = Field(default=None, max_length=500)


class RefundData(_Data):
    order_id: ExternalId = Field(description="The `order_id` of the original purchase.")
    amount: Amount = Field(description="The refunded amount (part or all of the purchase).")


class ReferralData(_Data):
    referred_customer_id: ExternalId = Field(
        description="The new customer; the referrer is the event's `customer_id`, which "
        "must differ (a customer referring themselves is a 422)."
    )


class ReviewData(_Data):
    rating: int = Field(ge=1, le=5)
    product_id: ExternalId | None = None
    text: LongText | None = None


class RenewalData(_Data):
    subscription_id: ExternalId
    plan: ShortText | None = None
    amount: Amount | None = None


class UpgradeData(_Data):
    model_config = ConfigDict(extra="allow")

    subscription_id: ExternalId | None = None
    plan: ShortText | None = None
    amount: Amount | None = None


class FreeData(_Data):
    """Behaviour with no required fields; anything given is kept for rules to read."""

    model_config = ConfigDict(extra="allow")


class SocialEngagementData(FreeData):
    network: ShortText | None = None
    action: ShortText | None = None


class NpsAnswer(_Data):
    survey: Literal["nps"]
    score: int = Field(ge=0, le=10, description="0-10: promoters 9-10, detractors 0-6.")
    comment: LongText | None = None


class CsatAnswer(_Data):
    survey: Literal["csat"]
    score: int = Field(ge=1, le=5, description="1-5: satisfied is 4 or 5.")
    comment: LongText | None = None


FeedbackData = Annotated[NpsAnswer | CsatAnswer, Field(discriminator="survey")]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ExternalId = Field(description="Your unique id for this event; retries reuse it.")
    customer_id: ExternalId
    occurred_at: BoundedDatetime = Field(
        description=f"When it happened: RFC 3339 text with a timezone offset (not a Unix "
        f"number), in the years {MIN_YEAR} to {MAX_YEAR} as written."
    )
    channel: ShortText | None = Field(
        default=None, description="Where it happened: web, app, store, ...", examples=["web"]
    )
    attributes: Attributes = Field(default_factory=dict)

    @model_validator(mode="after")
    def _free_json_bounded(self) -> Self:
        """Free-form members (attributes, the extra members of free-form data) are stored
        as JSON and hashed: refuse what a database or the hash cannot carry, at its place."""
        found = list(free_json_errors(self.attributes, ("attributes",)))
        data = getattr(self, "data", None)
        data = data if isinstance(data, BaseModel) else None
        if data is not None:
            found += free_json_errors(data.model_extra or {}, ("data",))
            for index, item in enumerate(getattr(data, "items", None) or ()):
                found += free_json_errors(item.model_extra or {}, ("data", "items", index))
        if found:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("free_json", reason), loc=loc, input=None
                    )
                    for loc, reason in found[:10]
                ],
            )
        return self


class PurchaseEvent(_Envelope):
    type: Literal[EventType.purchase]
    data: PurchaseData


class RefundEvent(_Envelope):
    type: Literal[EventType.refund]
    data: RefundData


class ReferralEvent(_Envelope):
    type: Literal[EventType.referral]
    data: ReferralData

    @model_validator(mode="after")
    def _not_self(self) -> "ReferralEvent":
        if self.data.referred_customer_id == self.customer_id:
            # Raised as a ValidationError so that the error points at the field.
            raise ValidationError.from_exception_data(
                "ReferralEvent",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "self_referral", "a customer cannot refer themselves"
                        ),
                        loc=("data", "referred_customer_id"),
                        input=self.data.referred_customer_id,
                    )
                ],
            )
        return self


class ReviewEvent(_Envelope):
    type: Literal[EventType.review]
    data: ReviewData


class RenewalEvent(_Envelope):
    type: Literal[EventType.renewal]
    data: RenewalData


class SignupData(FreeData, _Referable):
    """A new customer: anything given is kept for rules to read."""


class SignupEvent(_Envelope):
    type: Literal[EventType.signup]
    data: SignupData = Field(default_factory=SignupData)


class SubscriptionEvent(_Envelope):
    """Opt-in to the mailing list."""

    type: Literal[EventType.subscription]
    data: FreeData = Field(default_factory=FreeData)


class SocialEngagementEvent(_Envelope):
    type: Literal[EventType.social_engagement]
    data: SocialEngagementData = Field(default_factory=SocialEngagementData)


class UpgradeEvent(_Envelope):
    type: Literal[EventType.upgrade]
    data: UpgradeData = Field(default_factory=UpgradeData)


class CancellationEvent(_Envelope):
    type: Literal[EventType.cancellation]
    data: FreeData = Field(default_factory=FreeData)


class FeedbackEvent(_Envelope):
    type: Literal[EventType.feedback]
    data: FeedbackData


AnyEvent = (
    PurchaseEvent
    | RefundEvent
    | ReferralEvent
    | ReviewEvent
    | RenewalEvent
    | SignupEvent
    | SubscriptionEvent
    | SocialEngagementEvent
    | UpgradeEvent
    | CancellationEvent
    | FeedbackEvent
)
EventIn = Annotated[AnyEvent, Field(discriminator="type")]


class IssuedCoupon(BaseModel):
    """A coupon an issue_coupon rule handed out (no points spent)."""

    code: str
    claim_id: str
    expires_at: datetime


class EffectOut(BaseModel):
    """What one rule gave for the event."""

    rule_id: str | None = Field(description="The rule that produced it; null for the ledger's own.")
    rule_name: str | None
    action: str = Field(
        description="award_points, multiply_points, award_badge, set_tier, grant_perk, notify, "
        "issue_coupon, "
        "reverse_points (a refund's clawback), or challenge_completed (the challenge `rule_id` "
        "names; its actions follow, under the same id)."
    )
    points: int | None = None
    badge: str | None = None
    tier: str | None = None
    perk: str | None = None
    perk_expires_at: datetime | None = None
    notification: str | None = None
    template: str | None = None
    shortfall: int | None = Field(
        default=None, description="Refund clawback the balance could not cover."
    )
    reward_id: str | None = Field(default=None, description="issue_coupon: the reward.")
    coupon: IssuedCoupon | None = Field(
        default=None, description="issue_coupon: the coupon issued; null when none was."
    )
    refused: Literal["unknown-reward", "reward-inactive", "reward-out-of-stock"] | None = Field(
        default=None, description="issue_coupon: why no coupon was issued."
    )

    @model_serializer(mode="wrap")
    def _coupon_members_for_coupons(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        """Only issue_coupon effects carry the coupon members, as the pipeline answers."""
        body = handler(self)
        if isinstance(body, dict) and body.get("action") != "issue_coupon":
            for name in ("reward_id", "coupon", "refused"):
                body.pop(name, None)
        return body


class SkippedOut(BaseModel):
    rule_id: str
    rule_name: str
    reason: str


class ReferralOutcome(BaseModel):
    """What the event's `data.referral_code` did."""

    status: Literal["recorded", "ignored"] = Field(
        description="recorded: the referral is the referrer's (their `referral` rules ran on "
        "the derived event `event_id`); ignored: nothing was recorded, see `reason`."
    )
    reason: Literal["unknown-code", "own-code", "already-referred", "referrer-cap-reached"] | None
    referrer_id: str | None = None
    event_id: str | None = Field(default=None, description="The derived referral event.")


class WouldHaveOut(BaseModel):
    """What the rules of an experiment's variant the customer is not in would have given."""

    experiment_id: str
    variant: str
    points: int
    effects: list[EffectOut]


class EventResult(BaseModel):
    event_id: str
    customer_id: str
    type: EventType
    status: Literal["processed"] = "processed"
    ruleset_version: int | None
    effects: list[EffectOut]
    balance: BalanceOut
    explain: list[SkippedOut] | None = Field(
        default=None, description="With `?explain=true`: the rules that did not fire, and why."
    )
    referral: ReferralOutcome | None = Field(
        default=None, description="Only for an event with a `data.referral_code`."
    )
    would_have: list[WouldHaveOut] | None = Field(
        default=None,
        description="For a customer in an experiment: what the rules scoped to its other "
        "variants would have given for this event (nothing was given).",
    )

    @model_serializer(mode="wrap")
    def _referral_only_with_a_code(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        """As the pipeline answers: `referral` only for an event that carried a code."""
        body = handler(self)
        if isinstance(body, dict) and body.get("referral", "") is None:
            del body["referral"]
        return body


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1,000 events, each exactly as `POST /v1/events` takes it. Each is "
        "validated and processed on its own: a bad one fails alone.",
    )


class BatchItem(BaseModel):
    index: int = Field(description="Position in the request.")
    event_id: str | None
    status: int = Field(
        description="What `POST /v1/events` would have answered for this event alone: 201 "
        "processed, 200 replayed, 409 or 422 refused."
    )
    result: EventResult | None = None
    problem: dict[str, Any] | None = Field(
        default=None, description="An RFC 9457 problem document, when refused."
    )


class BatchOut(BaseModel):
    processed: int
    replayed: int
    failed: int
    items: list[BatchItem]
