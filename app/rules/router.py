import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.ledger.policy import PointsPolicy
from app.models import Rule
from app.rules import backtest, service
from app.rules.facts import fact_catalogue
from app.rules.schemas import (
    BacktestIn,
    BacktestOut,
    FactOut,
    RuleDetailOut,
    RuleDocument,
    RuleIn,
    RuleListOut,
    RuleOut,
    RulesetRuleOut,
    RulesetVersionOut,
    RuleVersionOut,
    TierLadder,
    TiersOut,
)
from app.schemas import MAX_DB_INT

router = APIRouter(
    prefix="/v1/rules",
    tags=["rules"],
    dependencies=[Depends(RequireScope(Scope.rules_write))],
)

RuleId = Annotated[str, Path(max_length=64, description="The rule's stable id.")]


async def _out(session: ReadSession | Session, rule: Rule) -> RuleOut:
    current = await service.current_document(session, rule)
    return RuleOut(
        id=rule.id,
        version=rule.current_version,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        deleted_at=rule.deleted_at,
        document=RuleDocument.model_validate(current.document),
    )


# Fixed paths first, so that they are never taken for a rule id.


@router.get("/facts", response_model=list[FactOut], responses=problem_responses(401, 403))
async def get_facts() -> list[FactOut]:
    """The facts a condition can read, with their kind and meaning; `<name>` stands for any
    name (`attributes.<name>`, and `data.<name>` for free-form event types)."""
    return [
        FactOut(path=f.path, kind=f.kind.value, description=f.description, nullable=f.nullable)
        for f in fact_catalogue()
    ]


@router.get("/tiers", response_model=TiersOut, responses=problem_responses(401, 403))
async def get_tiers(session: ReadSession) -> TiersOut:
    """The tier ladder: tiers by lifetime earned points, lowest first."""
    version, ladder = await service.current_tiers(session)
    return TiersOut(ruleset_version=version, tiers=list(ladder.tiers) if ladder else [])


@router.put("/tiers", response_model=TiersOut, responses=problem_responses(401, 403, 422))
async def put_tiers(ladder: TierLadder, session: Session) -> TiersOut:
    """Replace the tier ladder (an empty list removes it); creates a ruleset version.

    After an event's points are credited, a customer whose lifetime earned points reach a
    higher tier moves up to it. Tiers never go down on their own; a customer holding a tier
    that is not on the ladder (given by a set_tier rule) is left alone.
    """
    version = await service.replace_tiers(session, ladder)
    return TiersOut(ruleset_version=version, tiers=list(ladder.tiers))


@router.get(
    "/versions/{version}",
    response_model=RulesetVersionOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_ruleset_version(
    session: ReadSession,
    version: Annotated[
        int, Path(ge=0, le=MAX_DB_INT, description="A ruleset version, as events record it.")
    ],
) -> RulesetVersionOut:
    """The rules (with their versions) and tier ladder that judged events of this version."""
    content = await service.version_content(session, version)
    return RulesetVersionOut(
        version=content.version,
        created_at=content.created_at,
        change=content.change,
        rules=[RulesetRuleOut(id=i, version=v, document=d) for i, v, d in content.rules],
        tiers=content.tiers,
    )


@router.post("/backtest", response_model=BacktestOut, responses=problem_responses(401, 403, 422))
async def post_backtest(body: BacktestIn, request: Request, session: ReadSession) -> BacktestOut:
    """Replay the stored events of [from, to) against draft rules, writing nothing.

    Each customer's facts are rebuilt as of each event by replaying their history in
    occurred_at order; events before `from` build state but are not counted. Answers, per
    draft rule, the events fired, customers affected and points, and compares the points the
    draft would have issued with the points actually earned for those events.
    """
    policy = PointsPolicy.from_settings(request.app.state.settings)
    return await backtest.run(session, body, policy)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_rule(rule: RuleIn, session: Session) -> RuleOut:
    """Create a rule (version 1); it applies to events from the moment this commits."""
    rule_id = rule.id or f"rule-{secrets.token_hex(6)}"
    created = await service.create_rule(session, rule_id, rule.document())
    return await _out(session, created)


@router.get("", response_model=RuleListOut, responses=problem_responses(401, 403, 422))
async def list_rules(
    session: ReadSession,
    include_deleted: Annotated[bool, Query(description="Also list deleted rules.")] = False,
) -> RuleListOut:
    """Every rule with its current document, by id."""
    rules = await service.list_rules(session, include_deleted=include_deleted)
    return RuleListOut(
        items=[await _out(session, r) for r in rules],
        ruleset_version=await service.current_version(session),
    )


@router.get(
    "/{rule_id}", response_model=RuleDetailOut, responses=problem_responses(401, 403, 404, 422)
)
async def get_rule(rule_id: RuleId, session: ReadSession) -> RuleDetailOut:
    """A rule with all its versions."""
    rule = await service.get_rule(session, rule_id)
    out = await _out(session, rule)
    versions = await service.rule_versions(session, rule_id)
    return RuleDetailOut(
        **out.__dict__,
        versions=[
            RuleVersionOut(
                version=v.version,
                ruleset_version=v.ruleset_version,
                created_at=v.created_at,
                document=RuleDocument.model_validate(v.document),
            )
            for v in versions
        ],
    )


@router.put(
    "/{rule_id}", response_model=RuleOut, responses=problem_responses(401, 403, 404, 409, 422)
)
async def replace_rule(rule_id: RuleId, document: RuleDocument, session: Session) -> RuleOut:
    """Store a new version of the rule; the old ones stay readable. Disable a rule by sending
    it with `enabled: false`. Sending the current document again changes nothing."""
    rule = await service.replace_rule(session, rule_id, document)
    return await _out(session, rule)


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_rule(rule_id: RuleId, session: Session) -> Response:
    """Remove the rule from the ruleset (a new ruleset version); its history stays readable
    and its id is never reused."""
    await service.delete_rule(session, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
