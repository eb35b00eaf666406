"""Rule documents as a loyalty manager writes them, validated at write time.

Everything a rule can get wrong without running it is refused here, and each error's ``loc``
points at the offending node (``("conditions", "all", 1, "op")``), so an editor can underline
it. Condition nodes and actions are dispatched on their shape / ``type`` by hand rather than by
pydantic's tagged unions, because those insert the tag name into every error location.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.events.types import EVENT_TYPES, EventType
from app.rules.facts import (
    FREE_FORM_DATA_TYPES,
    FactKind,
    FactSpec,
    describe_facts,
    resolve_fact,
)
from app.schemas import (
    MAX_AWARD_POINTS,
    MAX_DB_BIGINT,
    MAX_DB_INT,
    MAX_EVENT_POINTS,
    BoundedDatetime,
)

MAX_CONDITION_DEPTH: Final[int] = 10
MAX_CONDITION_NODES: Final[int] = 200
MAX_LIST_VALUES: Final[int] = 1000
MAX_STRING_VALUE: Final[int] = 1000
MAX_ACTIONS: Final[int] = 20

Operator = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "between", "exists"
]
Period = Literal["lifetime", "day", "week", "month"]
Rounding = Literal["floor", "nearest", "ceil"]

SLUG_PATTERN: Final[str] = r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$"
Slug = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=SLUG_PATTERN)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _custom(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> InitErrorDetails:
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


def _raise(title: str, errors: list[InitErrorDetails]) -> None:
    # A ValidationError raised inside a validator keeps its locations, which pydantic then
    # prefixes with the enclosing field path; a ValueError would collapse onto the model.
    if errors:
        raise ValidationError.from_exception_data(title, errors)


# --------------------------------------------------------------------------- conditions


class Comparison(BaseModel):
    """Compare one fact with a constant. A fact that is absent (or null) makes every
    comparison false, ne and not_in included; only ``exists: false`` is true for it. Wrap a
    comparison in ``not`` to make an absent fact count as a match."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"fact": "data.amount", "op": "gte", "value": 50}]},
    )

    fact: str = Field(
        description="Dotted fact path, e.g. 'data.amount', 'customer.tier', 'attributes.vip'. "
        "Customer facts describe the customer just before the event; an absent fact makes "
        "every comparison false. The facts:\n\n" + describe_facts(),
        min_length=1,
        max_length=200,
    )
    op: Operator = Field(
        description="eq / ne: equal / not equal. gt, gte, lt, lte: ordering (number, integer, "
        "date, datetime facts). in / not_in: the fact is (not) one of the listed values; on a "
        "list fact such as customer.badges, at least one (none) of the values is in the list. "
        "contains: substring of a string fact, or member of a list fact. between: "
        "[lo, hi] inclusive. exists: true if the fact is present and not null, false otherwise."
    )
    value: Any = Field(
        default=None,
        description="The constant to compare with; its type must suit the fact: a number for "
        "number facts, a whole number for integer facts, 'YYYY-MM-DD' for dates, an ISO 8601 "
        "timestamp with offset for datetimes, a string for strings, true/false for booleans. "
        "in / not_in take a non-empty list, between a [lo, hi] pair with lo <= hi, exists a "
        "boolean.",
    )


class AllCondition(BaseModel):
    """True when every sub-condition is true."""

    model_config = _STRICT

    all: list[Condition] = Field(min_length=1, description="Sub-conditions that must all hold.")


class AnyCondition(BaseModel):
    """True when at least one sub-condition is true."""

    model_config = _STRICT

    any: list[Condition] = Field(
        min_length=1, description="Sub-conditions of which at least one must hold."
    )


class NotCondition(BaseModel):
    """True when the sub-condition is false."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    not_: Condition = Field(alias="not", description="The condition to negate.")


_CONDITION_MODELS: Final = (AllCondition, AnyCondition, NotCondition, Comparison)


def _parse_condition(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, _CONDITION_MODELS):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "condition_type",
            "A condition must be an object: all, any, not, or a fact comparison.",
        )
    if "all" in value:
        return AllCondition.model_validate(value)
    if "any" in value:
        return AnyCondition.model_validate(value)
    if "not" in value:
        return NotCondition.model_validate(value)
    if "fact" in value or "op" in value:
        return Comparison.model_validate(value)
    raise PydanticCustomError(
        "condition_shape",
        "A condition must have one of the keys 'all', 'any', 'not', or 'fact' with 'op'.",
    )


Condition = Annotated[
    AllCondition | AnyCondition | NotCondition | Comparison,
    WrapValidator(_parse_condition),
]
"""A condition tree node: {"all": [...]}, {"any": [...]}, {"not": {...}} or a comparison."""

AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()

ConditionNode = AllCondition | AnyCondition | NotCondition | Comparison


def _children(node: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Sub-nodes of a raw (dict) or validated condition, with their relative locations."""
    if isinstance(node, dict):
        for key in ("all", "any"):
            items = node.get(key)
            if isinstance(items, list):
                for i, item in enumerate(items):
                    yield (key, i), item
        if "not" in node:
            yield ("not",), node["not"]
    elif isinstance(node, AllCondition):
        for i, item in enumerate(node.all):
            yield ("all", i), item
    elif isinstance(node, AnyCondition):
        for i, item in enumerate(node.any):
            yield ("any", i), item
    elif isinstance(node, NotCondition):
        yield ("not",), node.not_


def _check_tree_size(root: Any) -> list[InitErrorDetails]:
    """Refuse trees that are too deep or too large, before pydantic recurses into them."""
    errors: list[InitErrorDetails] = []
    nodes = 0
    stack: list[tuple[tuple[str | int, ...], Any, int]] = [(("conditions",), root, 1)]
    while stack:
        loc, node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_CONDITION_NODES:
            return [
                _custom(
                    ("conditions",),
                    "condition_too_large",
                    f"A condition tree may have at most {MAX_CONDITION_NODES} nodes.",
                    None,
                )
            ]
        if depth > MAX_CONDITION_DEPTH:
            if not errors:
                errors.append(
                    _custom(
                        loc,
                        "condition_too_deep",
                        f"Conditions may be nested at most {MAX_CONDITION_DEPTH} levels deep.",
                        None,
                    )
                )
            continue
        # Reversed so that the first too-deep node reported is the first one in document order.
        stack.extend(
            (loc + rel, child, depth + 1) for rel, child in reversed(list(_children(node)))
        )
    return errors


def iter_comparisons(
    node: ConditionNode, loc: tuple[str | int, ...] = ("conditions",)
) -> Iterator[tuple[tuple[str | int, ...], Comparison]]:
    """Every comparison in a validated tree, in document order, with its location."""
    if isinstance(node, Comparison):
        yield loc, node
        return
    for rel, child in _children(node):
        yield from iter_comparisons(child, loc + rel)


# --------------------------------------------------------------------------- operands


class OperandError(ValueError):
    """A comparison does not suit its fact; ``field`` is 'op' or 'value'."""

    def __init__(self, field: Literal["op", "value"], message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


ORDERED_OPS: Final[frozenset[str]] = frozenset({"gt", "gte", "lt", "lte", "between"})
_ORDERED_KINDS: Final = frozenset(
    {FactKind.NUMBER, FactKind.INTEGER, FactKind.DATE, FactKind.DATETIME, FactKind.ANY}
)
_CONTAINS_KINDS: Final = frozenset({FactKind.STRING, FactKind.STRING_LIST, FactKind.ANY})
_BOOLEAN_OPS: Final = frozenset({"eq", "ne", "in", "not_in", "exists"})


def _an(kind: FactKind) -> str:
    return {
        FactKind.INTEGER: "an integer",
        FactKind.ANY: "an untyped",
        FactKind.STRING_LIST: "a list",
    }.get(kind, f"a {kind.value}")


def _finite(d: Decimal) -> Decimal:
    if not d.is_finite():
        raise ValueError("not a finite number")
    return d


def _scalar(spec: FactSpec, value: Any) -> Any:
    """Normalise one constant for ``spec``'s kind; raise ValueError with a reason if it cannot."""
    kind = spec.kind
    if value is None:
        raise ValueError("the value may not be null; use the 'exists' operator")
    if kind is FactKind.NUMBER or kind is FactKind.INTEGER or kind is FactKind.ANY:
        if isinstance(value, bool):
            if kind is FactKind.ANY:
                return value
        elif isinstance(value, int):
            return value
        elif isinstance(value, float | Decimal):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError("the value must be a finite number")
            # repr() gives the shortest decimal that round-trips, so 49.99 stays 49.99.
            d = _finite(Decimal(repr(value)) if isinstance(value, float) else value)
            if kind is not FactKind.INTEGER:
                return d
            if d == d.to_integral_value():
                return int(d)
        elif isinstance(value, str) and kind is FactKind.ANY:
            if len(value) > MAX_STRING_VALUE:
                raise ValueError(f"strings are limited to {MAX_STRING_VALUE} characters")
            return value
        if kind is FactKind.ANY:
            raise ValueError("the value must be a string, number or boolean")
        what = "a whole number" if kind is FactKind.INTEGER else "a number"
        raise ValueError(f"{spec.path} is {_an(kind)} fact; the value must be {what}")
    if kind is FactKind.STRING or kind is FactKind.STRING_LIST:
        if not isinstance(value, str):
            raise ValueError(f"{spec.path} is {_an(kind)} fact; the value must be a string")
        if len(value) > MAX_STRING_VALUE:
            raise ValueError(f"strings are limited to {MAX_STRING_VALUE} characters")
        return value
    if kind is FactKind.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{spec.path} is a boolean fact; the value must be true or false")
        return value
    if kind is FactKind.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ValueError(f"{spec.path} is a date fact; the value must be a 'YYYY-MM-DD' date")
    # DATETIME
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            f"{spec.path} is a datetime fact; the value must be an ISO 8601 timestamp with a "
            "timezone offset"
        )
    return parsed


def normalize_operand(spec: FactSpec, op: str, value: Any) -> Any:
    """Check that ``op`` and ``value`` suit the fact and return the value the engine compares.

    Numbers become ``int`` or ``Decimal``, dates and datetimes are parsed, ``in`` lists become
    tuples and ``between`` a ``(lo, hi)`` tuple. Raises ``OperandError`` naming the culprit.
    """
    kind = spec.kind
    if op in ORDERED_OPS and kind not in _ORDERED_KINDS:
        raise OperandError(
            "op",
            f"operator '{op}' needs a number, integer, date or datetime fact, "
            f"but {spec.path} is {_an(kind)} fact",
        )
    if op == "contains" and kind not in _CONTAINS_KINDS:
        raise OperandError(
            "op",
            f"operator 'contains' needs a string or list fact, but {spec.path} is {_an(kind)} fact",
        )
    if kind is FactKind.STRING_LIST and op in ("eq", "ne"):
        raise OperandError(
            "op", f"operator '{op}' does not apply to list fact {spec.path}; use contains or in"
        )
    if kind is FactKind.BOOLEAN and op not in _BOOLEAN_OPS:
        raise OperandError("op", f"operator '{op}' does not apply to boolean fact {spec.path}")
    try:
        if op == "exists":
            if not isinstance(value, bool):
                raise ValueError("exists takes true or false")
            return value
        if op in ("in", "not_in"):
            if not isinstance(value, list | tuple) or not value:
                raise ValueError(f"operator '{op}' needs a non-empty list of values")
            if len(value) > MAX_LIST_VALUES:
                raise ValueError(f"lists are limited to {MAX_LIST_VALUES} values")
            return tuple(_scalar(spec, v) for v in value)
        if op == "between":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise ValueError("operator 'between' needs a [lo, hi] pair")
            lo, hi = _scalar(spec, value[0]), _scalar(spec, value[1])
            try:
                ordered = lo <= hi
            except TypeError:
                raise ValueError("lo and hi must be of the same type") from None
            if not ordered:
                raise ValueError("between needs lo <= hi")
            return (lo, hi)
        return _scalar(spec, value)
    except OperandError:
        raise
    except ValueError as exc:
        raise OperandError("value", str(exc)) from None


# --------------------------------------------------------------------------- actions


class AwardPointsAction(BaseModel):
    """Award points, either a fixed number or proportionally to a number fact."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"type": "award_points", "points": 50},
                {"type": "award_points", "per_unit": 1, "multiplier": 2, "of": "data.amount"},
            ]
        },
    )

    type: Literal["award_points"] = Field(description="Action type.")
    points: int | None = Field(
        default=None,
        gt=0,
        le=MAX_AWARD_POINTS,
        description="Fixed mode: award exactly this many points.",
    )
    per_unit: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="Proportional mode: points per unit of the 'of' fact; the award is "
        f"round(value * per_unit * multiplier), at most max_points and never more than "
        f"{MAX_AWARD_POINTS}.",
    )
    multiplier: float | None = Field(
        default=None,
        gt=0,
        le=1_000,
        allow_inf_nan=False,
        description="Proportional mode only: extra factor, default 1.",
    )
    of: str | None = Field(
        default=None,
        description="Proportional mode only: the number fact the award is proportional to, "
        "default 'data.amount'.",
    )
    rounding: Rounding | None = Field(
        default=None,
        description="Proportional mode only: how fractional points are rounded: floor "
        "(default), nearest (halves round up) or ceil.",
    )
    round_to: int | None = Field(
        default=None,
        gt=0,
        le=MAX_AWARD_POINTS,
        description="Proportional mode only: round to a multiple of this step (e.g. 10), using "
        "the rounding mode.",
    )
    max_points: int | None = Field(
        default=None,
        gt=0,
        le=MAX_AWARD_POINTS,
        description="Proportional mode only: cap on the award, applied after rounding and "
        f"before any multiply_points. Without it the cap is {MAX_AWARD_POINTS}.",
    )

    @model_validator(mode="after")
    def _one_mode(self) -> AwardPointsAction:
        errors: list[InitErrorDetails] = []
        if self.points is not None and self.per_unit is not None:
            errors.append(
                _custom(
                    ("per_unit",),
                    "award_mode",
                    "Give either 'points' (fixed) or 'per_unit' (proportional), not both.",
                    self.per_unit,
                )
            )
        elif self.points is None and self.per_unit is None:
            errors.append(
                _custom(
                    (),
                    "award_mode",
                    "Give either 'points' (fixed) or 'per_unit' (proportional).",
                    None,
                )
            )
        elif self.points is not None:
            for name in ("multiplier", "of", "rounding", "round_to", "max_points"):
                if getattr(self, name) is not None:
                    errors.append(
                        _custom(
                            (name,),
                            "award_mode",
                            f"'{name}' applies only to proportional awards (per_unit).",
                            getattr(self, name),
                        )
                    )
        _raise("AwardPointsAction", errors)
        return self


class MultiplyPointsAction(BaseModel):
    """Multiply every points award of the event (from all rules that fired, whatever their
    priority). Several multipliers combine multiplicatively; this rule's ledger effect carries
    only the extra points it added."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"type": "multiply_points", "factor": 2}]},
    )

    type: Literal["multiply_points"] = Field(description="Action type.")
    # At least 1: a multiplier adds points. Earned points are credited as lots, and a
    # "negative bonus" would have no lot to come out of; a smaller award is written as such.
    factor: float = Field(
        ge=1,
        le=10,
        allow_inf_nan=False,
        description="Multiplier, from 1 to 10.",
    )


class AwardBadgeAction(BaseModel):
    """Give the customer a badge."""

    model_config = _STRICT

    type: Literal["award_badge"] = Field(description="Action type.")
    badge: Slug = Field(description="Badge slug, e.g. 'first-review'.")


class SetTierAction(BaseModel):
    """Move the customer to a tier."""

    model_config = _STRICT

    type: Literal["set_tier"] = Field(description="Action type.")
    tier: Slug = Field(description="Tier slug, e.g. 'gold'.")


class GrantPerkAction(BaseModel):
    """Grant the customer a perk, optionally expiring."""

    model_config = _STRICT

    type: Literal["grant_perk"] = Field(description="Action type.")
    perk: Slug = Field(description="Perk slug, e.g. 'early_access'.")
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="The perk expires this many days after the event occurred; never if absent.",
    )


class NotifyAction(BaseModel):
    """Ask the notification service to contact the customer."""

    model_config = _STRICT

    type: Literal["notify"] = Field(description="Action type.")
    notification: Slug = Field(
        description="Notification slug, e.g. 'thank_you', 'surprise_gift', 'detractor_follow_up'."
    )
    template: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Template name for the notification service, if not the default one.",
    )


class IssueCouponAction(BaseModel):
    """Hand the customer a reward's coupon for free (a surprise gift, a birthday, a
    win-back): no points are spent, the reward's stock is. Out of stock, outside its
    window or deleted, the effect says so and issues nothing."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"type": "issue_coupon", "reward_id": "rwd_1a2b3c4d"}]},
    )

    type: Literal["issue_coupon"] = Field(description="Action type.")
    reward_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$",
        description="The catalog reward whose coupon is issued.",
    )


_ACTION_MODELS: Final[dict[str, type[BaseModel]]] = {
    "award_points": AwardPointsAction,
    "multiply_points": MultiplyPointsAction,
    "award_badge": AwardBadgeAction,
    "set_tier": SetTierAction,
    "grant_perk": GrantPerkAction,
    "notify": NotifyAction,
    "issue_coupon": IssueCouponAction,
}
ACTION_TYPES: Final[tuple[str, ...]] = tuple(_ACTION_MODELS)


def _parse_action(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, tuple(_ACTION_MODELS.values())):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("action_type", "An action must be an object with a 'type'.")
    kind = value.get("type")
    model = _ACTION_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        _raise(
            "Action",
            [
                _custom(
                    ("type",),
                    "unknown_action",
                    f"Unknown action {kind!r}; expected one of {', '.join(ACTION_TYPES)}.",
                    kind,
                )
            ],
        )
    assert model is not None
    return model.model_validate(value)


ActionModel = (
    AwardPointsAction
    | MultiplyPointsAction
    | AwardBadgeAction
    | SetTierAction
    | GrantPerkAction
    | NotifyAction
    | IssueCouponAction
)
Action = Annotated[
    Annotated[ActionModel, Field(discriminator="type")],
    WrapValidator(_parse_action),
]
"""One action, selected by its 'type'."""


# --------------------------------------------------------------------------- limits


class PerCustomerLimit(BaseModel):
    """How often the rule may fire for one customer."""

    model_config = _STRICT

    count: int = Field(
        gt=0, le=MAX_DB_INT, description="Maximum firings per customer in each period."
    )
    period: Period = Field(
        default="lifetime",
        description="Calendar period in UTC of the event's occurred_at: lifetime, day, week "
        "(ISO week, Monday to Sunday) or month.",
    )


class Limits(BaseModel):
    """Caps on a rule. The evaluator checks them against current usage; the database layer
    consumes them atomically when recording the event."""

    model_config = _STRICT

    per_customer: PerCustomerLimit | None = Field(
        default=None, description="Per-customer firing limit."
    )
    budget_points: int | None = Field(
        default=None,
        gt=0,
        le=MAX_EVENT_POINTS * 1000,
        description="Total points this rule may ever issue across all customers. A firing "
        "whose points would not fit in what is left does not happen at all.",
    )


# --------------------------------------------------------------------------- rule document


class ExperimentScope(BaseModel):
    """Scopes a rule to one variant of an experiment."""

    model_config = _STRICT

    id: Slug = Field(description="The experiment's id.")
    variant: Slug = Field(description="The variant whose exposed customers the rule applies to.")


class RuleDocument(BaseModel):
    """A loyalty rule: when an event of one of ``types`` satisfies ``conditions``, run
    ``actions``. Rules run in ascending ``priority`` (then rule id)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Double points on big weekend orders",
                    "types": ["purchase"],
                    "conditions": {
                        "all": [
                            {"fact": "data.amount", "op": "gte", "value": 50},
                            {"fact": "time.weekday", "op": "in", "value": [5, 6]},
                        ]
                    },
                    "actions": [{"type": "award_points", "per_unit": 1, "multiplier": 2}],
                    "limits": {"per_customer": {"count": 1, "period": "week"}},
                    "priority": 50,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100, description="Human-readable rule name.")
    description: str = Field(default="", max_length=2000, description="Free-text notes.")
    types: list[EventType] = Field(
        min_length=1,
        description="Event types the rule listens to: " + ", ".join(EVENT_TYPES) + ".",
    )
    conditions: Condition | None = Field(
        default=None,
        description='Condition tree: {"all": [...]}, {"any": [...]}, {"not": {...}} or '
        '{"fact", "op", "value"}; absent means always true. At most '
        f"{MAX_CONDITION_DEPTH} levels and {MAX_CONDITION_NODES} nodes.",
    )
    actions: list[Action] = Field(
        min_length=1, max_length=MAX_ACTIONS, description="What the rule does when it fires."
    )
    limits: Limits | None = Field(default=None, description="Optional firing and budget caps.")
    priority: int = Field(
        default=100,
        ge=0,
        le=1_000_000,
        description="Evaluation order: LOWER numbers run first; ties run in rule-id order.",
    )
    stop: bool = Field(
        default=False,
        description="When this rule fires, rules with a higher priority number (lower "
        "priority) are not evaluated for the event; rules of the same priority still are.",
    )
    active_from: BoundedDatetime | None = Field(
        default=None, description="The rule applies to events occurring at or after this time."
    )
    active_until: BoundedDatetime | None = Field(
        default=None,
        description="The rule applies to events occurring strictly before this time; must be "
        "after active_from.",
    )
    enabled: bool = Field(default=True, description="Disabled rules are ignored entirely.")
    experiment: ExperimentScope | None = Field(
        default=None,
        description="A treatment: the rule applies only to customers exposed to this "
        "variant of this running experiment. Anyone else is judged as if the rule did not "
        "exist; for customers exposed to another variant, what it would have given is "
        "recorded (`would_have`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded_tree(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("conditions") is not None:
            _raise(cls.__name__, _check_tree_size(data["conditions"]))
        return data

    @model_validator(mode="after")
    def _semantics(self) -> RuleDocument:
        errors: list[InitErrorDetails] = []
        seen: set[str] = set()
        for i, t in enumerate(self.types):
            if t in seen:
                errors.append(_custom(("types", i), "duplicate_type", f"Duplicate {t!r}.", t))
            seen.add(t)
        if (
            self.active_from is not None
            and self.active_until is not None
            and self.active_until <= self.active_from
        ):
            errors.append(
                _custom(
                    ("active_until",),
                    "window_order",
                    "active_until must be after active_from.",
                    self.active_until.isoformat(),
                )
            )
        if self.conditions is not None:
            for loc, cmp in iter_comparisons(self.conditions):
                errors.extend(_check_comparison(loc, cmp, self.types))
        for i, action in enumerate(self.actions):
            if isinstance(action, AwardPointsAction) and action.per_unit is not None:
                path = action.of or "data.amount"
                problem = _check_award_source(path, self.types)
                if problem is not None:
                    errors.append(_custom(("actions", i, "of"), "invalid_fact", problem, path))
        _raise(type(self).__name__, errors)
        return self


def _unknown_fact_message(path: str, types: Iterable[str]) -> str:
    type_list = list(types)
    if path.startswith("data.") and not any(t in FREE_FORM_DATA_TYPES for t in type_list):
        return f"Unknown fact {path!r}: none of the event types {', '.join(type_list)} has it."
    return f"Unknown fact {path!r}."


def _check_comparison(
    loc: tuple[str | int, ...], cmp: Comparison, types: list[EventType]
) -> list[InitErrorDetails]:
    spec = resolve_fact(cmp.fact, types)
    if spec is None:
        msg = _unknown_fact_message(cmp.fact, types)
        return [_custom((*loc, "fact"), "unknown_fact", msg, cmp.fact)]
    try:
        normalize_operand(spec, cmp.op, cmp.value)
    except OperandError as exc:
        bad = cmp.op if exc.field == "op" else cmp.value
        return [_custom((*loc, exc.field), f"invalid_{exc.field}", exc.message, bad)]
    return []


AWARD_SOURCE_KINDS: Final = frozenset({FactKind.NUMBER, FactKind.INTEGER, FactKind.ANY})


def _check_award_source(path: str, types: list[EventType]) -> str | None:
    spec = resolve_fact(path, types)
    if spec is None:
        return _unknown_fact_message(path, types)
    if spec.kind not in AWARD_SOURCE_KINDS:
        return f"'of' needs a number fact, but {path} is {_an(spec.kind)} fact."
    return None


# --------------------------------------------------------------------------- tiers


class TierThreshold(BaseModel):
    """A tier and the lifetime points needed to reach it."""

    model_config = _STRICT

    tier: Slug = Field(description="Tier slug, e.g. 'silver'.")
    min_lifetime_points: int = Field(
        ge=0,
        le=MAX_DB_BIGINT,
        description="Lifetime points at or above which the customer holds this tier.",
    )


class TierLadder(BaseModel):
    """The shop's tiers, lowest first. Below the first threshold a customer has no tier."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "tiers": [
                        {"tier": "silver", "min_lifetime_points": 1000},
                        {"tier": "gold", "min_lifetime_points": 5000},
                    ]
                }
            ]
        },
    )

    tiers: list[TierThreshold] = Field(
        max_length=50,
        description="Tiers in strictly increasing min_lifetime_points order, unique names.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TierLadder:
        errors: list[InitErrorDetails] = []
        names: set[str] = set()
        for i, step in enumerate(self.tiers):
            if step.tier in names:
                errors.append(
                    _custom(("tiers", i, "tier"), "duplicate_tier", "Duplicate tier.", step.tier)
                )
            names.add(step.tier)
            if i and step.min_lifetime_points <= self.tiers[i - 1].min_lifetime_points:
                errors.append(
                    _custom(
                        ("tiers", i, "min_lifetime_points"),
                        "tier_order",
                        "Thresholds must strictly increase.",
                        step.min_lifetime_points,
                    )
                )
        _raise(type(self).__name__, errors)
        return self


# --------------------------------------------------------------------------- API envelopes

RESERVED_RULE_IDS: Final[frozenset[str]] = frozenset({"tiers", "versions", "backtest", "facts"})


class RuleIn(RuleDocument):
    """A rule document to create, with an optional id of your choosing."""

    id: Slug | None = Field(
        default=None,
        description="Stable rule id (lowercase letters, digits, '-' and '_'); generated when "
        "absent. Ids are never reused, even after a delete. Not allowed: "
        + ", ".join(sorted(RESERVED_RULE_IDS))
        + ".",
    )

    @model_validator(mode="after")
    def _not_reserved(self) -> RuleIn:
        if self.id in RESERVED_RULE_IDS:
            _raise(
                type(self).__name__,
                [_custom(("id",), "reserved_id", f"{self.id!r} is reserved.", self.id)],
            )
        return self

    def document(self) -> RuleDocument:
        return RuleDocument.model_validate(self.model_dump(by_alias=True, exclude={"id"}))


class FactOut(BaseModel):
    path: str = Field(description="The dotted path rules use, e.g. 'customer.tier'.")
    kind: str = Field(
        description="number, integer, string, boolean, date, datetime, list_of_strings or any."
    )
    description: str
    nullable: bool = Field(description="Whether the fact may be absent.")


class RuleVersionOut(BaseModel):
    version: int = Field(description="The rule's own version, 1 for its first document.")
    ruleset_version: int = Field(description="The global ruleset version this edit created.")
    created_at: datetime
    document: RuleDocument


class RuleOut(BaseModel):
    id: str
    version: int = Field(description="The rule's current version.")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = Field(
        description="Set once the rule is deleted: it no longer applies, its history stays."
    )
    document: RuleDocument = Field(description="The current document.")


class RuleDetailOut(RuleOut):
    versions: list[RuleVersionOut] = Field(description="Every version, oldest first.")


class RuleListOut(BaseModel):
    items: list[RuleOut]
    ruleset_version: int = Field(description="The current global ruleset version.")


class RulesetRuleOut(BaseModel):
    id: str
    version: int
    document: RuleDocument


class RulesetVersionOut(BaseModel):
    """What judged the events whose ruleset_version is this number."""

    version: int = Field(description="0 is the built-in default used until rules are stored.")
    created_at: datetime | None
    change: str = Field(description="The change that created this version.")
    rules: list[RulesetRuleOut] = Field(
        description="Rules in force (disabled ones included, they do not fire)."
    )
    tiers: TierLadder | None


class TiersOut(BaseModel):
    ruleset_version: int
    tiers: list[TierThreshold]


class BacktestIn(BaseModel):
    """A draft ruleset and the window of stored events to replay against it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: BoundedDatetime = Field(
        alias="from", description="Start of the window (inclusive), by event occurred_at."
    )
    to: BoundedDatetime = Field(description="End of the window (exclusive); after 'from'.")
    rules: list[RuleIn] = Field(
        min_length=1,
        max_length=500,
        description="The draft rules; ids default to 'draft-1', 'draft-2', ... by position.",
    )
    experiment: ExperimentScope | None = Field(
        default=None,
        description="Replay as if every customer were exposed to this variant: the draft "
        "rules scoped to it apply to everyone (an experiment's treatment, before its start).",
    )
    tiers: TierLadder | None = Field(default=None, description="Optional draft tier ladder.")

    @model_validator(mode="after")
    def _window(self) -> BacktestIn:
        errors: list[InitErrorDetails] = []
        if self.to <= self.from_:
            errors.append(
                _custom(("to",), "window_order", "'to' must be after 'from'.", self.to.isoformat())
            )
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id is not None:
                if rule.id in seen:
                    errors.append(
                        _custom(("rules", i, "id"), "duplicate_id", "Duplicate id.", rule.id)
                    )
                seen.add(rule.id)
        _raise(type(self).__name__, errors)
        return self


class BacktestRuleOut(BaseModel):
    rule_id: str
    rule_name: str
    events_fired: int = Field(description="Events of the window on which the rule fired.")
    customers_affected: int = Field(description="Distinct customers it fired for in the window.")
    points: int = Field(description="Points it would have issued in the window.")
    errors: int = Field(description="Events on which the rule failed while evaluating.")


class BacktestOut(BaseModel):
    # One alias both ways: the document has a single schema per model, which must name
    # the member as it is sent.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    from_: datetime = Field(alias="from")
    to: datetime
    events_replayed: int = Field(
        description="Events replayed, including those before 'from' that only build state."
    )
    events_in_window: int
    customers: int = Field(description="Customers with at least one event in the window.")
    rules: list[BacktestRuleOut]
    points_would_issue: int = Field(description="Points the draft would have issued in the window.")
    points_actually_issued: int = Field(
        description="Points actually earned (earn ledger entries) by the window's events."
    )
    difference: int = Field(description="points_would_issue - points_actually_issued.")


__all__ = [
    "ACTION_TYPES",
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_NODES",
    "RESERVED_RULE_IDS",
    "Action",
    "ActionModel",
    "AllCondition",
    "AnyCondition",
    "AwardBadgeAction",
    "AwardPointsAction",
    "BacktestIn",
    "BacktestOut",
    "BacktestRuleOut",
    "Comparison",
    "Condition",
    "ConditionNode",
    "FactOut",
    "GrantPerkAction",
    "Limits",
    "MultiplyPointsAction",
    "NotCondition",
    "NotifyAction",
    "OperandError",
    "Operator",
    "PerCustomerLimit",
    "Period",
    "Rounding",
    "RuleDetailOut",
    "RuleDocument",
    "RuleIn",
    "RuleListOut",
    "RuleOut",
    "RuleVersionOut",
    "RulesetRuleOut",
    "RulesetVersionOut",
    "SetTierAction",
    "Slug",
    "TierLadder",
    "TierThreshold",
    "TiersOut",
    "iter_comparisons",
    "normalize_operand",
]
