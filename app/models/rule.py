"""Stored rules: stable rule ids, immutable versions, global ruleset versions, limit usage."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigPoints, JSONType, utcnow
from app.models.customer import ID_LENGTH

RULE_ID_LENGTH = 64


class Rule(Base):
    """A rule's identity; its documents live in ``rule_versions``, never overwritten."""

    __tablename__ = "rules"

    id: Mapped[str] = mapped_column(String(RULE_ID_LENGTH), primary_key=True)
    current_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Deleted rules leave the ruleset but keep their history readable.
    deleted_at: Mapped[datetime | None]


class RuleVersion(Base):
    __tablename__ = "rule_versions"

    rule_id: Mapped[str] = mapped_column(ForeignKey("rules.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]]
    ruleset_version: Mapped[int] = mapped_column(ForeignKey("ruleset_versions.version"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RulesetHead(Base):
    """A single row holding the current ruleset version.

    Every rule change bumps it with an atomic ``UPDATE ... RETURNING``, whose row lock
    serialises concurrent rule writers; every event reads it to know which ruleset judges it.
    """

    __tablename__ = "ruleset_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]


class RulesetVersion(Base):
    """What was in force from one global version on: ``rules`` lists ``[rule_id, version]``
    pairs, ``tiers`` the tier ladder (null when none)."""

    __tablename__ = "ruleset_versions"

    version: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    change: Mapped[str] = mapped_column(String(200))
    rules: Mapped[list[Any]] = mapped_column(JSONType)
    tiers: Mapped[dict[str, Any] | None]


class RuleLimitCounter(Base):
    """How often a rule fired for a customer in one period (``engine.period_key``)."""

    __tablename__ = "rule_limit_counters"

    rule_id: Mapped[str] = mapped_column(String(RULE_ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigPoints)


class RuleBudget(Base):
    """Points a rule has issued across all customers, for its ``budget_points``."""

    __tablename__ = "rule_budgets"

    rule_id: Mapped[str] = mapped_column(String(RULE_ID_LENGTH), primary_key=True)
    issued: Mapped[int] = mapped_column(BigPoints)
