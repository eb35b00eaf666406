"""The ASGI application: ``app.main:app``."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from app import __version__
from app.auth import service as auth_service
from app.auth.cache import KeyCache
from app.auth.dependencies import Principal
from app.auth.router import router as api_keys_router
from app.auth.scopes import Scope
from app.auth.tokens import TokenCodec
from app.config import Settings, get_settings
from app.customers.router import router as customers_router
from app.dashboard.router import router as dashboard_router
from app.dashboard.router import static_files as dashboard_static
from app.database import Database
from app.errors import install_problem_handlers
from app.events.committer import GroupCommitter
from app.events.reads_router import router as event_reads_router
from app.events.router import router as events_router
from app.experiments.router import router as experiments_router
from app.feedback.router import router as feedback_router
from app.gamification import jobs as leaderboard_jobs
from app.gamification.challenge_router import router as challenges_router
from app.gamification.router import router as leaderboards_router
from app.health.router import router as health_router
from app.ledger import jobs as ledger_jobs
from app.ledger.policy import PointsPolicy
from app.ledger.router import router as ledger_router
from app.metrics.router import router as metrics_router
from app.middleware.body_limit import BodyLimitMiddleware
from app.middleware.metrics import RequestMetricsMiddleware
from app.middleware.rate_limit import RateLimiter
from app.migrations import head_revision
from app.openapi import build_document, operation_id
from app.reports.router import router as reports_router
from app.rewards import jobs as coupon_jobs
from app.rewards.checkout import router as checkout_router
from app.rewards.router import router as rewards_router
from app.rules.router import router as rules_router
from app.rules.streak_router import router as streaks_router
from app.segments.router import router as segments_router
from app.shoppers.rewards import router as shopper_rewards_router
from app.shoppers.router import router as shoppers_router
from app.webhooks import worker as webhook_worker
from app.webhooks.router import router as webhooks_router

DESCRIPTION = """
Positive reinforcement for e-commerce: shops post customer behaviour events, a rules
engine decides what each one earns, and an append-only points ledger records it.

Authenticate with `Authorization: Bearer <token>`: an API key (`rk_...`) carrying scopes,
or a short-lived shopper token. Every error is an RFC 9457 `application/problem+json`
document whose `type` is stable.
"""


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _valid_request_id(value: str) -> bool:
    # Gateways send ids of their own shapes; anything else (log injection, huge values)
    # is replaced by a fresh id.
    return _REQUEST_ID.fullmatch(value) is not None


async def _ensure_bootstrap_key(settings: Settings, database: Database) -> None:
    if settings.bootstrap_api_key is None:
        return
    async with database.sessionmaker() as session, session.begin():
        await auth_service.ensure_key(
            session,
            secret=settings.bootstrap_api_key.get_secret_value(),
            name="bootstrap",
            scopes=[Scope.admin],
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    database = Database.from_settings(settings)
    app.state.database = database
    app.state.migration_head = head_revision()
    committer = GroupCommitter(
        database.engine,
        PointsPolicy.from_settings(settings),
        group_max=settings.ingest_group_max,
        group_wait_ms=settings.ingest_group_wait_ms,
    )
    app.state.committer = committer
    committer.start()
    background: list[asyncio.Task[None]] = []
    try:
        await _ensure_bootstrap_key(settings, database)
        if settings.expiry_interval_seconds:
            background.append(
                asyncio.create_task(
                    ledger_jobs.run_periodically(database, settings.expiry_interval_seconds)
                )
            )
            background.append(
                asyncio.create_task(
                    coupon_jobs.run_periodically(database, settings.expiry_interval_seconds)
                )
            )
        if settings.leaderboard_close_interval_seconds:
            background.append(
                asyncio.create_task(
                    leaderboard_jobs.run_periodically(
                        database, settings.leaderboard_close_interval_seconds
                    )
                )
            )
        if settings.webhook_worker_in_process:
            background.append(asyncio.create_task(webhook_worker.run(database, settings)))
        yield
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await committer.stop()
        await database.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Swagger UI and ReDoc from the files fastapi-offline ships, not a CDN: /docs works on
    # a machine without internet access.
    app = FastAPIOffline(
        title="reinforce",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # One schema per model: generated clients get one RuleDocument, not an -Input and
        # an -Output twin.
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.tokens = TokenCodec(settings)
    app.state.key_cache = KeyCache[Principal](settings.api_key_cache_seconds)
    app.state.rate_limiter = RateLimiter(settings)
    install_problem_handlers(app)

    app.include_router(health_router)
    app.include_router(api_keys_router)
    app.include_router(events_router)
    app.include_router(event_reads_router)
    app.include_router(customers_router)
    app.include_router(ledger_router)
    # Before the rules' own routes, whose /v1/rules/{rule_id} would take "streaks".
    app.include_router(streaks_router)
    app.include_router(rules_router)
    app.include_router(webhooks_router)
    app.include_router(rewards_router)
    app.include_router(checkout_router)
    app.include_router(shoppers_router)
    app.include_router(shopper_rewards_router)
    app.include_router(metrics_router)
    app.include_router(segments_router)
    app.include_router(experiments_router)
    app.include_router(leaderboards_router)
    app.include_router(challenges_router)
    app.include_router(reports_router)
    app.include_router(feedback_router)
    app.include_router(dashboard_router)
    app.mount("/dashboard/static", dashboard_static, name="dashboard-static")

    # Innermost, so that a 413 still passes through CORS and gets a request id.
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_bytes,
        per_path={"/v1/events/batch": settings.max_batch_body_bytes},
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
        )
    app.add_middleware(
        CorrelationIdMiddleware, header_name="X-Request-ID", validator=_valid_request_id
    )
    app.add_middleware(
        RequestMetricsMiddleware, excluded=frozenset({"/metrics", "/healthz", "/readyz"})
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
