"""Liveness, readiness and Prometheus metrics."""

import os

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import BaseModel
from sqlalchemy import text

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import DatabaseDep
from app.errors import problem_responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    expected_revision: str | None


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Says nothing about its dependencies."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready to serve traffic."}},
)
async def readyz(request: Request, database: DatabaseDep, response: Response) -> Readiness:
    """The database answers and its schema is at the migration head this build expects."""
    expected: str | None = request.app.state.migration_head
    try:
        async with database.read_sessionmaker() as session:
            current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach or read the database means not ready
        response.status_code = 503
        return Readiness(
            status="unavailable",
            database=f"error: {type(exc).__name__}",
            schema_revision=None,
            expected_revision=expected,
        )
    ready = current == expected
    if not ready:
        response.status_code = 503
    return Readiness(
        status="ok" if ready else "migrations pending",
        database="ok",
        schema_revision=current,
        expected_revision=expected,
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
