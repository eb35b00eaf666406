"""Stored rules: versions, and the active ruleset every worker agrees on.

A global ruleset version is bumped by every change (rule created, edited, deleted, tier
ladder replaced). Each version records the ``(rule id, rule version)`` pairs and the tier
ladder in force, so an event's ``ruleset_version`` always says which documents judged it.
"""

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.database import claim
from app.errors import Conflict, NotFound, Unprocessable
from app.models import Experiment, Rule, RulesetHead, RulesetVersion, RuleVersion
from app.models.base import utcnow
from app.rules.active import ActiveRuleset
from app.rules.schemas import RuleDocument, TierLadder

# The ruleset is read by the ingest pipeline on its own connection, and by the API on
# sessions; both answer ``scalar`` and ``execute`` alike.
Reader = AsyncSession | AsyncConnection
_RULES = cast(Table, Rule.__table__)

logger = logging.getLogger(__name__)

DEFAULT_RULE_ID = "default-points-per-unit"
# Until a shop stores rules of its own, purchases earn one point per whole currency unit
# and nothing else earns anything. Version 0 marks events judged by this default.
DEFAULT_DOCUMENT = RuleDocument.model_validate(
    {
        "name": "1 point per currency unit",
        "description": "The default until rules are stored.",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "per_unit": 1}],
    }
)


class RuleNotFound(NotFound):
    slug = "rule-not-found"
    title = "No such rule"


class RuleIdTaken(Conflict):
    slug = "rule-id-taken"
    title = "Rule id already in use"


class RuleDeleted(Conflict):
    slug = "rule-deleted"
    title = "Rule deleted"


class RulesetVersionNotFound(NotFound):
    slug = "ruleset-version-not-found"
    title = "No such ruleset version"


DEFAULT_ACTIVE = ActiveRuleset.build(0, [(DEFAULT_RULE_ID, DEFAULT_DOCUMENT)], None)


# --------------------------------------------------------------------------- reading


# Read by every event: built once.
_CURRENT_VERSION = select(RulesetHead.version).where(RulesetHead.id == 1)


async def current_version(session: Reader) -> int:
    version = await session.scalar(_CURRENT_VERSION)
    return version or 0


@dataclass(frozen=True, slots=True)
class VersionContent:
    version: int
    created_at: datetime | None
    change: str
    rules: list[tuple[str, int, RuleDocument]]
    tiers: TierLadder | None


async def _default_applies(session: Reader, version: int) -> bool:
    """Whether the built-in default still earns at ``version``: no rule had been stored yet
    (a tier ladder alone does not switch it off)."""
    first = await session.scalar(select(func.min(RuleVersion.ruleset_version)))
    return first is None or version < first


async def version_content(session: Reader, version: int) -> VersionContent:
    """The rules and tier ladder in force at ``version``; version 0 is the default."""
    default = [(DEFAULT_RULE_ID, 0, DEFAULT_DOCUMENT)]
    if version == 0:
        return VersionContent(0, None, "default ruleset", default, None)
    stored = (
        await session.execute(
            select(
                RulesetVersion.version,
                RulesetVersion.created_at,
                RulesetVersion.change,
                RulesetVersion.rules,
                RulesetVersion.tiers,
            ).where(RulesetVersion.version == version)
        )
    ).first()
    if stored is None:
        raise RulesetVersionNotFound(f"Ruleset version {version} does not exist.")
    pairs = [(str(rule_id), int(v)) for rule_id, v in stored.rules]
    documents: dict[tuple[str, int], dict[str, Any]] = {}
    if pairs:
        result = await session.execute(
            select(RuleVersion.rule_id, RuleVersion.version, RuleVersion.document).where(
                RuleVersion.rule_id.in_([p[0] for p in pairs])
            )
        )
        documents = {(r.rule_id, r.version): r.document for r in result}
    rules = [
        (rule_id, v, RuleDocument.model_validate(documents[(rule_id, v)])) for rule_id, v in pairs
    ]
    if not rules and await _default_applies(session, version):
        rules = default
    tiers = TierLadder.model_validate(stored.tiers) if stored.tiers is not None else None
    return VersionContent(stored.version, stored.created_at, stored.change, rules, tiers)


# Compiled rulesets per (database, version). A version's content never changes, so a cached
# entry can never be stale; the per-unit read of the head decides which entry applies.
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[str, int], ActiveRuleset] = OrderedDict()


def _database_key(session: Reader) -> str:
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    return bind.engine.url.render_as_string(hide_password=True)


async def active_ruleset(session: Reader) -> ActiveRuleset:
    """The ruleset that judges events now: one primary-key read, then the process cache."""
    version = await current_version(session)
    if version == 0:
        return DEFAULT_ACTIVE
    key = (_database_key(session), version)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    content = await version_content(session, version)
    active = ActiveRuleset.build(
        version, [(rule_id, doc) for rule_id, _, doc in content.rules], content.tiers
    )
    _cache[key] = active
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return active


async def get_rule(session: AsyncSession, rule_id: str) -> Rule:
    rule = await session.get(Rule, rule_id)
    if rule is None:
        raise RuleNotFound(f"Rule {rule_id!r} does not exist.", extra={"rule_id": rule_id})
    return rule


async def list_rules(session: AsyncSession, *, include_deleted: bool) -> list[Rule]:
    statement = select(Rule).order_by(Rule.id)
    if not include_deleted:
        statement = statement.where(Rule.deleted_at.is_(None))
    return list(await session.scalars(statement))


async def rule_versions(session: AsyncSession, rule_id: str) -> list[RuleVersion]:
    result = await session.scalars(
        select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version)
    )
    return list(result)


async def current_document(session: AsyncSession, rule: Rule) -> RuleVersion:
    row = await session.get(RuleVersion, (rule.id, rule.current_version))
    assert row is not None
    return row


# --------------------------------------------------------------------------- writing


async def _bump(session: AsyncSession) -> tuple[int, TierLadder | None]:
    """Take the next ruleset version; the head's row lock queues concurrent rule writers."""
    version = (
        await session.execute(
            update(RulesetHead)
            .where(RulesetHead.id == 1)
            .values(version=RulesetHead.version + 1)
            .returning(RulesetHead.version)
        )
    ).scalar_one()
    previous = await session.get(RulesetVersion, version - 1) if version > 1 else None
    tiers = TierLadder.model_validate(previous.tiers) if previous and previous.tiers else None
    return version, tiers


async def _record_version(
    session: AsyncSession, version: int, change: str, tiers: TierLadder | None
) -> None:
    await session.flush()
    live = await session.execute(
        select(Rule.id, Rule.current_version).where(Rule.deleted_at.is_(None)).order_by(Rule.id)
    )
    session.add(
        RulesetVersion(
            version=version,
            created_at=utcnow(),
            change=change[:200],
            rules=[[r.id, r.current_version] for r in live],
            tiers=tiers.model_dump(mode="json") if tiers is not None else None,
        )
    )
    await session.flush()


def _stored(document: RuleDocument) -> dict[str, Any]:
    return document.model_dump(mode="json", by_alias=True, exclude_none=True)


class UnknownVariant(Unprocessable):
    slug = "unknown-experiment-variant"
    title = "The rule's experiment has no such variant"


async def _check_scope(session: AsyncSession, document: RuleDocument) -> None:
    scope = document.experiment
    if scope is None:
        return
    experiment = await session.get(Experiment, scope.id)
    if experiment is None or scope.variant not in {v["id"] for v in experiment.variants}:
        raise UnknownVariant(
            f"No experiment {scope.id!r} with a variant {scope.variant!r}.",
            extra={"experiment_id": scope.id, "variant": scope.variant},
        )


async def create_rule(session: AsyncSession, rule_id: str, document: RuleDocument) -> Rule:
    await _check_scope(session, document)
    version, tiers = await _bump(session)
    now = utcnow()
    values = {"id": rule_id, "current_version": 1, "created_at": now, "updated_at": now}
    if not await claim(session, _RULES, ("id",), values):
        raise RuleIdTaken(
            f"A rule with id {rule_id!r} exists (possibly deleted); ids are never reused.",
            extra={"rule_id": rule_id},
        )
    await _record_version(session, version, f"create {rule_id}", tiers)
    session.add(
        RuleVersion(
            rule_id=rule_id,
            version=1,
            document=_stored(document),
            ruleset_version=version,
            created_at=now,
        )
    )
    await session.flush()
    return await get_rule(session, rule_id)


async def replace_rule(session: AsyncSession, rule_id: str, document: RuleDocument) -> Rule:
    """Store ``document`` as the rule's next version; an identical document changes nothing."""
    await _check_scope(session, document)
    rule = await get_rule(session, rule_id)
    if rule.deleted_at is not None:
        raise RuleDeleted(f"Rule {rule_id!r} was deleted.", extra={"rule_id": rule_id})
    current = await current_document(session, rule)
    if current.document == _stored(document):
        return rule
    version, tiers = await _bump(session)
    # Re-read under the head's lock: another writer may have changed the rule meanwhile.
    await session.refresh(rule)
    if rule.deleted_at is not None:
        raise RuleDeleted(f"Rule {rule_id!r} was deleted.", extra={"rule_id": rule_id})
    rule.current_version += 1
    rule.updated_at = utcnow()
    await _record_version(session, version, f"update {rule_id} to v{rule.current_version}", tiers)
    session.add(
        RuleVersion(
            rule_id=rule_id,
            version=rule.current_version,
            document=_stored(document),
            ruleset_version=version,
            created_at=rule.updated_at,
        )
    )
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: str) -> None:
    rule = await get_rule(session, rule_id)
    if rule.deleted_at is not None:
        return
    version, tiers = await _bump(session)
    await session.refresh(rule)
    if rule.deleted_at is not None:
        return
    rule.deleted_at = utcnow()
    rule.updated_at = rule.deleted_at
    await _record_version(session, version, f"delete {rule_id}", tiers)


async def current_tiers(session: AsyncSession) -> tuple[int, TierLadder | None]:
    version = await current_version(session)
    row = await session.get(RulesetVersion, version) if version else None
    tiers = TierLadder.model_validate(row.tiers) if row is not None and row.tiers else None
    return version, tiers


async def replace_tiers(session: AsyncSession, ladder: TierLadder) -> int:
    """Store a new tier ladder (an empty one removes tiers); answers the ruleset version."""
    version, current = await current_tiers(session)
    new = ladder if ladder.tiers else None
    if current == new:
        return version
    version, _ = await _bump(session)
    await _record_version(session, version, "tier ladder", new)
    return version
