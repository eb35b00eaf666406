"""Wire types of challenges (missions) and a customer's progress in them."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.events.types import EVENT_TYPES, EventType
from app.models.challenge import CHALLENGE_ID_LENGTH
from app.rules.facts import resolve_fact
from app.rules.schemas import (
    AWARD_SOURCE_KINDS,
    Action,
    Condition,
    MultiplyPointsAction,
    RuleDocument,
    _custom,
    _raise,
)
from app.schemas import BoundedDatetime

ChallengeId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=CHALLENGE_ID_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
]
MAX_TARGET = Decimal(10) ** 15
MAX_ROLLING_DAYS = 366
MAX_ACTIONS = 10


class CountGoal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(gt=0, le=1_000_000, description="This many qualifying events.")


class SumGoal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sum: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="A number fact of the events, e.g. `data.amount`."
    )
    target: Decimal = Field(gt=0, le=MAX_TARGET, description="The total to reach.")


class FixedWindow(BaseModel):
    """The same dates for everyone: events occurring in [from, until) count."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: BoundedDatetime = Field(alias="from")
    until: BoundedDatetime

    @model_validator(mode="after")
    def _ordered(self) -> "FixedWindow":
        if self.until <= self.from_:
            _raise(
                type(self).__name__,
                [
                    _custom(
                        ("until",),
                        "window_order",
                        "the window must end after it starts",
                        self.until.isoformat(),
                    )
                ],
            )
        return self


class RollingWindow(BaseModel):
    """Each customer's own window: it opens with their first qualifying event and lasts
    `rolling_days`; a window that ends unfinished starts again with the next event."""

    model_config = ConfigDict(extra="forbid")

    rolling_days: int = Field(ge=1, le=MAX_ROLLING_DAYS)


Goal = CountGoal | SumGoal
Window = FixedWindow | RollingWindow


def _moved(errors: list[Any], rename: dict[str, str]) -> list[InitErrorDetails]:
    moved: list[InitErrorDetails] = []
    for error in errors:
        loc = list(error["loc"])
        if loc and isinstance(loc[0], str):
            loc[0] = rename.get(loc[0], loc[0])
        moved.append(
            {
                "type": PydanticCustomError(error["type"], error["msg"]),
                "loc": tuple(loc),
                "input": error.get("input"),
            }
        )
    return moved


def as_rule(challenge_id: str, body: Any) -> RuleDocument:
    """The challenge's condition and actions as a rule document, which the rules engine
    compiles: its condition decides which events count; its actions fire on completion."""
    return RuleDocument.model_validate(
        {
            "name": body.name[:100],
            "types": [t.value for t in body.event_types],
            "conditions": body.condition,
            "actions": body.actions,
        }
    )


class ChallengeIn(BaseModel):
    """A challenge. It counts the events processed from the moment it is created."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "five-reviews",
                    "name": "Five reviews in 30 days",
                    "event_types": ["review"],
                    "condition": {"fact": "data.rating", "op": "gte", "value": 3},
                    "goal": {"count": 5},
                    "window": {"rolling_days": 30},
                    "actions": [{"type": "award_points", "points": 100}],
                    "repeat": "every_window",
                }
            ]
        },
    )

    id: ChallengeId | None = Field(default=None, description="Generated when absent; never reused.")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    event_types: list[EventType] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="The event types that count: " + ", ".join(EVENT_TYPES) + ".",
    )
    condition: Condition | None = Field(
        default=None,
        description="Which of those events count, in the rules' condition language "
        "(`customer.*` facts as before the event); absent means all of them.",
    )
    goal: Goal = Field(description='`{"count": n}`, or `{"sum": "data.amount", "target": x}`.')
    window: Window = Field(description='`{"from": ..., "until": ...}` or `{"rolling_days": n}`.')
    actions: list[Action] = Field(
        min_length=1,
        max_length=MAX_ACTIONS,
        description="The rules' actions (award_points, award_badge, set_tier, grant_perk, "
        "notify), fired once per completion, with the completing event.",
    )
    repeat: Literal["once", "every_window"] = Field(
        default="once",
        description="`once`: a customer completes it once. `every_window`: again in each "
        "new window (rolling windows only; a fixed window is one window).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "ChallengeIn":
        errors: list[InitErrorDetails] = []
        for index, action in enumerate(self.actions):
            if isinstance(action, MultiplyPointsAction):
                errors.append(
                    _custom(
                        ("actions", index, "type"),
                        "unsupported_action",
                        "a challenge awards points of its own; multiply_points is for rules",
                        action.type,
                    )
                )
        if isinstance(self.goal, SumGoal):
            spec = resolve_fact(self.goal.sum, self.event_types)
            if (
                spec is None
                or not self.goal.sum.startswith("data.")
                or (spec.kind not in AWARD_SOURCE_KINDS)
            ):
                errors.append(
                    _custom(
                        ("goal", "sum"),
                        "invalid_fact",
                        f"{self.goal.sum!r} is not a number field of the events' data",
                        self.goal.sum,
                    )
                )
        _raise(type(self).__name__, errors)
        try:
            as_rule("check", self)
        except ValidationError as invalid:
            _raise(
                type(self).__name__,
                _moved(invalid.errors(), {"conditions": "condition", "types": "event_types"}),
            )
        return self


class ChallengePatch(BaseModel):
    """What may change on a challenge: its name and description. What counts, the goal and
    the window are fixed, since customers' progress was counted that way."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class ChallengeOut(BaseModel):
    id: str
    name: str
    description: str | None
    event_types: list[EventType]
    condition: dict[str, Any] | None
    goal: Goal
    window: Window
    actions: list[dict[str, Any]]
    repeat: Literal["once", "every_window"]
    created_at: datetime
    updated_at: datetime


class ChallengeList(BaseModel):
    items: list[ChallengeOut]


class ChallengeProgressOut(BaseModel):
    """A customer's progress in one challenge, now."""

    challenge_id: str
    name: str
    description: str | None
    progress: str = Field(description="Done over needed, e.g. `3/5`.")
    value: Decimal = Field(description="Counted so far in the current window.")
    target: Decimal
    status: Literal["upcoming", "not_started", "in_progress", "completed", "ended"] = Field(
        description="`upcoming`: the fixed window has not opened; `not_started`: no window "
        "open for the customer (a rolling one opens with their next event); `ended`: the "
        "fixed window closed unfinished."
    )
    window_start: datetime | None
    deadline: datetime | None = Field(description="When the current window ends.")
    completions: int
    completed_at: datetime | None = Field(description="The latest completion.")


class ChallengeProgressList(BaseModel):
    items: list[ChallengeProgressOut]
