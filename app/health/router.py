"""Liveness, readiness and Prometheus metrics."""

import os

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import BaseModel, Field
from sqlalchemy import text

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import DatabaseDep
from app.errors import PROBLEM_MEDIA_TYPE, ProblemError, problem_responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    expected_revision: str | None


class NotReadyProblem(BaseModel):
    """A 503 problem (`not-ready`) carrying what the readiness check found."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    database: str = Field(description="`ok`, or the kind of error reaching it.")
    schema_revision: str | None = Field(description="The database's migration revision.")
    expected_revision: str | None = Field(description="The revision this build expects.")


class NotReady(ProblemError):
    status, slug, title = 503, "not-ready", "Not ready"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Says nothing about its dependencies."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "description": "Not ready to serve traffic: the database is unreachable or its "
            "schema is not at the expected migration.",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": NotReadyProblem.model_json_schema()}},
        }
    },
)
async def readyz(request: Request, database: DatabaseDep) -> Readiness:
    """The database answers and its schema is at the migration head this build expects."""
    expected: str | None = request.app.state.migration_head
    try:
        async with database.read_sessionmaker() as session:
            current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach or read the database means not ready
        raise NotReady(
            "The database cannot be reached or read.",
            extra={
                "database": f"error: {type(exc).__name__}",
                "schema_revision": None,
                "expected_revision": expected,
            },
        ) from exc
    if current != expected:
        raise NotReady(
            "The database schema is not at the migration this build expects: run "
            "`reinforce migrate`.",
            extra={"database": "ok", "schema_revision": current, "expected_revision": expected},
        )
    return Readiness(
        status="ok", database="ok", schema_revision=current, expected_revision=expected
    )


@router.get(
    "/metrics",
    response_class=Response,
    include_in_schema=True,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
        **problem_responses(401, 403),
    },
    dependencies=[Depends(RequireScope(Scope.metrics_read))],
)
async def prometheus_metrics() -> Response:
    """Prometheus metrics. Scrape with an API key holding `metrics:read`."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several uvicorn workers: each writes its samples to the shared directory, and
        # whichever worker is scraped aggregates them all.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
