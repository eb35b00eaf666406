"""Segments as a manager writes them: a name and a condition over customer facts."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.rules.schemas import (
    Condition,
    ConditionNode,
    OperandError,
    Slug,
    _check_tree_size,
    iter_comparisons,
    normalize_operand,
)
from app.segments.sql import SEGMENT_FACTS, refusal, spec

SEGMENT_FACTS_TEXT = ", ".join(f"`{path}`" for path in sorted(SEGMENT_FACTS))
CONDITION_DESCRIPTION = (
    "A condition in the rules' language (all / any / not / fact comparisons) over these "
    f"customer facts: {SEGMENT_FACTS_TEXT}. `recency_days` counts from now. Integers lie "
    "within ±2,147,483,647, numbers within ±10^13. Absent (null): every customer."
)


# What both databases can bind against the facts' columns (PostgreSQL's integer, a
# finite double, text without NUL).
MAX_INTEGER = 2**31 - 1
MAX_NUMBER = Decimal(10) ** 13


def _in_range(value: Any) -> None:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int) and not -MAX_INTEGER <= v <= MAX_INTEGER:
            raise OperandError("value", f"integers lie within ±{MAX_INTEGER:,}")
        if isinstance(v, Decimal) and not -MAX_NUMBER <= v <= MAX_NUMBER:
            raise OperandError("value", "numbers lie within ±10^13")
        if isinstance(v, str) and "\x00" in v:
            raise OperandError("value", "strings may not hold NUL characters")


def _condition_errors(condition: ConditionNode | None) -> list[InitErrorDetails]:
    errors: list[InitErrorDetails] = []
    if condition is None:
        return errors
    for loc, comparison in iter_comparisons(condition, ("condition",)):
        refused = refusal(comparison.fact)
        if refused is not None:
            errors.append(
                {
                    "type": PydanticCustomError("unknown_fact", refused),
                    "loc": (*loc, "fact"),
                    "input": comparison.fact,
                }
            )
            continue
        try:
            value = normalize_operand(spec(comparison.fact), comparison.op, comparison.value)
            _in_range(value)
        except OperandError as exc:
            bad = comparison.op if exc.field == "op" else comparison.value
            errors.append(
                {
                    "type": PydanticCustomError(f"invalid_{exc.field}", exc.message),
                    "loc": (*loc, exc.field),
                    "input": bad,
                }
            )
    return errors


def _bounded(data: Any) -> Any:
    if isinstance(data, dict) and data.get("condition") is not None:
        errors = _check_tree_size(data["condition"])
        if errors:
            # The tree checker names the root "conditions"; a segment's is "condition".
            raise ValueError(str(errors[0]["type"]))
    return data


def _checked(condition: ConditionNode | None) -> None:
    errors = _condition_errors(condition)
    if errors:
        raise ValidationError.from_exception_data("SegmentIn", errors)


class SegmentIn(BaseModel):
    """A new segment."""

    model_config = ConfigDict(extra="forbid")

    id: Slug | None = Field(default=None, description="Its id; default: one is made up.")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    condition: Condition | None = Field(default=None, description=CONDITION_DESCRIPTION)

    @model_validator(mode="before")
    @classmethod
    def _size(cls, data: Any) -> Any:
        return _bounded(data)

    @model_validator(mode="after")
    def _facts(self) -> "SegmentIn":
        _checked(self.condition)
        return self


class SegmentPatch(BaseModel):
    """A partial update: only the fields sent change; `condition: null` selects everyone."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    condition: Condition | None = Field(default=None, description=CONDITION_DESCRIPTION)

    @model_validator(mode="before")
    @classmethod
    def _size(cls, data: Any) -> Any:
        return _bounded(data)

    @model_validator(mode="after")
    def _facts(self) -> "SegmentPatch":
        _checked(self.condition)
        return self


class SegmentOut(BaseModel):
    id: str
    name: str
    description: str
    condition: Condition | None
    created_at: datetime
    updated_at: datetime


class SegmentDetailOut(SegmentOut):
    size: int = Field(description="Customers matching the condition now.")


class SegmentListOut(BaseModel):
    items: list[SegmentOut]
