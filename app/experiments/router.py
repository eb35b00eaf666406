"""Experiments: CRUD, start and stop, assignments and results."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.experiments import results, service
from app.experiments.schemas import (
    AssignmentOut,
    ExperimentIn,
    ExperimentListOut,
    ExperimentOut,
    ExperimentPatch,
    ResultsOut,
)
from app.rules.schemas import SLUG_PATTERN
from app.schemas import ExternalId

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentId = Annotated[
    str, Path(min_length=1, max_length=50, pattern=SLUG_PATTERN, description="The experiment's id.")
]
READ = [Depends(RequireScope(Scope.metrics_read))]
WRITE = [Depends(RequireScope(Scope.rules_write))]


@router.post(
    "",
    response_model=ExperimentOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=WRITE,
)
async def create_experiment(body: ExperimentIn, session: Session) -> ExperimentOut:
    """A new experiment, in draft: `POST .../start` starts it."""
    return service.out(await service.create(session, body))


@router.get(
    "", response_model=ExperimentListOut, responses=problem_responses(401, 403), dependencies=READ
)
async def list_experiments(session: ReadSession) -> ExperimentListOut:
    """Every experiment, newest first."""
    return ExperimentListOut(items=[service.out(e) for e in await service.listed(session)])


@router.get(
    "/{experiment_id}",
    response_model=ExperimentOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=READ,
)
async def get_experiment(experiment_id: ExperimentId, session: ReadSession) -> ExperimentOut:
    return service.out(await service.get(session, experiment_id))


@router.patch(
    "/{experiment_id}",
    response_model=ExperimentOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=WRITE,
)
async def update_experiment(
    experiment_id: ExperimentId, body: ExperimentPatch, session: Session
) -> ExperimentOut:
    """Change a draft; once started, only its name and description (else 409)."""
    return service.out(await service.update(session, experiment_id, body))


@router.post(
    "/{experiment_id}/start",
    response_model=ExperimentOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=WRITE,
)
async def start_experiment(experiment_id: ExperimentId, session: Session) -> ExperimentOut:
    """Start a draft: from now on, each customer's first event exposes them."""
    return service.out(await service.start(session, experiment_id))


@router.post(
    "/{experiment_id}/stop",
    response_model=ExperimentOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=WRITE,
)
async def stop_experiment(experiment_id: ExperimentId, session: Session) -> ExperimentOut:
    """Stop a running experiment: no more exposures; results are measured up to now."""
    return service.out(await service.stop(session, experiment_id))


@router.get(
    "/{experiment_id}/assignments/{customer_id}",
    response_model=AssignmentOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)
async def get_experiment_assignment(
    experiment_id: ExperimentId,
    customer_id: Annotated[ExternalId, Path(description="The shop's customer id.")],
    session: ReadSession,
) -> AssignmentOut:
    """The customer's variant (from the hash of the salt and their id) and exposure."""
    return await service.assignment(session, experiment_id, customer_id)


@router.get(
    "/{experiment_id}/results",
    response_model=ResultsOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=READ,
)
async def get_experiment_results(
    experiment_id: ExperimentId,
    session: ReadSession,
    retention_days: Annotated[
        int, Query(ge=1, le=365, description="Retention: active in these last days.")
    ] = 30,
) -> ResultsOut:
    """Per variant: the exposed customers and every metric with its difference from the
    control, 95% interval and p-value (CUPED-adjusted beside the means); the
    sample-ratio-mismatch check."""
    experiment = await service.get(session, experiment_id)
    return await results.results(session, experiment, retention_days)
