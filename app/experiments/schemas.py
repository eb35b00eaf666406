"""Experiments as a manager writes them, and their results."""

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.rules.schemas import Slug

ExperimentStatus = Literal["draft", "running", "stopped"]


class ExperimentMetric(StrEnum):
    repeat_purchase_rate = "repeat_purchase_rate"
    retention = "retention"
    referral_rate = "referral_rate"
    revenue_per_customer = "revenue_per_customer"
    orders_per_customer = "orders_per_customer"
    points_cost_per_customer = "points_cost_per_customer"
    net_revenue_per_customer = "net_revenue_per_customer"


PROPORTIONS = frozenset(
    {
        ExperimentMetric.repeat_purchase_rate,
        ExperimentMetric.retention,
        ExperimentMetric.referral_rate,
    }
)


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Slug
    weight: int = Field(ge=1, le=99, description="Percent of the audience; weights sum to 100.")


def _variants_ok(variants: list[VariantIn]) -> list[VariantIn]:
    ids = [v.id for v in variants]
    if len(set(ids)) != len(ids):
        raise ValueError("variant ids must be distinct")
    if sum(v.weight for v in variants) != 100:
        raise ValueError("variant weights must sum to 100")
    return variants


Variants = list[VariantIn]


class ExperimentIn(BaseModel):
    """A new experiment, in draft until started."""

    model_config = ConfigDict(extra="forbid")

    id: Slug | None = Field(default=None, description="Its id; default: one is made up.")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    variants: Variants = Field(
        min_length=2, max_length=5, description="2 to 5; the first is the control."
    )
    segment_id: Slug | None = Field(default=None, description="The audience; default: everyone.")
    salt: str = Field(
        default_factory=lambda: secrets.token_hex(8),
        min_length=1,
        max_length=64,
        description="Hashed with the customer id to assign; default: a random one.",
    )
    primary_metric: ExperimentMetric = ExperimentMetric.revenue_per_customer
    guardrails: list[ExperimentMetric] = Field(default_factory=list, max_length=7)
    point_value: float = Field(
        default=0.01, ge=0, le=1000, description="What a point costs, in the shop's currency."
    )
    pre_period_days: int = Field(
        default=30, ge=1, le=365, description="CUPED: days of spend before the start."
    )

    @field_validator("variants")
    @classmethod
    def _weights(cls, variants: list[VariantIn]) -> list[VariantIn]:
        return _variants_ok(variants)


class ExperimentPatch(BaseModel):
    """A partial update; once started, only the name and description change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    variants: Variants | None = Field(default=None, min_length=2, max_length=5)
    segment_id: Slug | None = None
    salt: str | None = Field(default=None, min_length=1, max_length=64)
    primary_metric: ExperimentMetric | None = None
    guardrails: list[ExperimentMetric] | None = Field(default=None, max_length=7)
    point_value: float | None = Field(default=None, ge=0, le=1000)
    pre_period_days: int | None = Field(default=None, ge=1, le=365)

    @field_validator("variants")
    @classmethod
    def _weights(cls, variants: list[VariantIn] | None) -> list[VariantIn] | None:
        return None if variants is None else _variants_ok(variants)


class VariantOut(BaseModel):
    id: str
    weight: int


class ExperimentOut(BaseModel):
    id: str
    name: str
    description: str
    status: ExperimentStatus
    variants: list[VariantOut]
    segment_id: str | None
    salt: str
    primary_metric: ExperimentMetric
    guardrails: list[ExperimentMetric]
    point_value: float
    pre_period_days: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class ExperimentListOut(BaseModel):
    items: list[ExperimentOut]


class WouldHaveTotal(BaseModel):
    points: int
    effects: int = Field(description="How many effects (points, badges, ...) in all.")


class AssignmentOut(BaseModel):
    experiment_id: str
    customer_id: str
    variant: str = Field(description="From the hash: the same on every call and worker.")
    bucket: int = Field(description="0..9999.")
    exposed: bool = Field(description="Whether an event after the start exposed them.")
    exposed_at: datetime | None
    exposure_event_id: str | None
    would_have: dict[str, "WouldHaveTotal"] = Field(
        description="Per other variant: what its rules would have given them so far."
    )


class Estimate(BaseModel):
    """One metric of one variant, against the control."""

    value: float | None
    difference: float | None = Field(description="Absolute: value - control's value.")
    relative_difference: float | None = Field(description="difference / control's value.")
    ci_low: float | None = Field(description="95% interval of the difference.")
    ci_high: float | None
    p_value: float | None
    method: Literal["two-proportion z-test", "welch t-test"]


class MetricResult(BaseModel):
    metric: ExperimentMetric
    kind: Literal["proportion", "mean"]
    estimate: Estimate
    cuped: Estimate | None = Field(
        default=None, description="Means: CUPED-adjusted, pre-period spend as the covariate."
    )


class VariantResult(BaseModel):
    variant: str
    weight: int
    exposed: int
    metrics: list[MetricResult]
    would_have_points_per_customer: dict[str, float] = Field(
        description="Per other variant: the points its rules would have given, per exposed "
        "customer of this one (the control's is the treatment's expected cost)."
    )


class SampleRatio(BaseModel):
    p_value: float | None = Field(description="Chi-square of exposed counts against weights.")
    mismatch: bool = Field(description="p below 0.001.")


class ResultsOut(BaseModel):
    experiment_id: str
    status: ExperimentStatus
    from_: datetime | None = Field(alias="from", description="The start.")
    to: datetime = Field(description="The stop, or now.")
    primary_metric: ExperimentMetric
    guardrails: list[ExperimentMetric]
    retention_days: int
    point_value: float
    variants: list[VariantResult]
    sample_ratio: SampleRatio

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


def variants_of(stored: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(v["id"], int(v["weight"])) for v in stored]
