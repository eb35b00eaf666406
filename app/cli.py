"""The ``reinforce`` command line."""

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from prometheus_client import start_http_server

from app.auth import service as auth_service
from app.auth.scopes import Scope
from app.config import get_settings
from app.console import progress
from app.database import Database
from app.demo.loader import load_demo
from app.errors import NotFound
from app.gamification.jobs import close_due
from app.imports.command import import_file
from app.ledger.jobs import expire_due
from app.ledger.policy import PointsPolicy
from app.logging import configure_logging, logging_config
from app.main import create_app
from app.migrations import upgrade
from app.models import ApiKey
from app.rewards import jobs as coupon_jobs
from app.webhooks import worker as webhook_worker

cli = typer.Typer(help="reinforce: rewards for customer behaviour.", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
cli.add_typer(keys, name="keys")
cli.command("import")(import_file)
leaderboards = typer.Typer(help="Leaderboard jobs.", no_args_is_help=True)
cli.add_typer(leaderboards, name="leaderboards")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(envvar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="PORT", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn."""
    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(settings),
        proxy_headers=True,
    )


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (default: to the latest revision)."""
    settings = get_settings()
    configure_logging(settings)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@cli.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the OpenAPI document that integrators generate clients from."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(create_app().openapi(), indent=2) + "\n")
    typer.echo(f"wrote {output}")


@cli.command()
def expire() -> None:
    """Expire points past their validity, and send each expired coupon's
    `coupon.expired` webhook. Safe to run repeatedly or concurrently."""
    settings = get_settings()
    configure_logging(settings)

    async def _expire() -> tuple[int, int]:
        database = Database.from_settings(settings)
        try:
            return await expire_due(database), await coupon_jobs.notify_expired(database)
        finally:
            await database.dispose()

    points, coupons = asyncio.run(_expire())
    typer.echo(f"expired {points} points")
    typer.echo(f"notified {coupons} expired coupons")


@leaderboards.command("close")
def leaderboards_close() -> None:
    """Close every ended week, month and year of each leaderboard: record its final
    standings and award its rewards. Running it twice rewards once."""
    settings = get_settings()
    configure_logging(settings)

    async def _close() -> int:
        database = Database.from_settings(settings)
        try:
            closed = await close_due(database)
        finally:
            await database.dispose()
        for done in closed:
            badges = ", ".join(f"{b} to {c}" for c, b in done.awarded) or "no rewards"
            typer.echo(f"closed {done.leaderboard_id} {done.period}: {badges}")
        return len(closed)

    typer.echo(f"closed {asyncio.run(_close())} periods")


@cli.command()
def demo(
    customers: Annotated[
        int, typer.Option(min=1, max=100_000, help="Synthetic customers in all.")
    ] = 500,
) -> None:
    """Load the starter rules and a year of synthetic customers. Safe to rerun; a larger
    --customers adds the customers beyond those already there."""
    settings = get_settings()
    configure_logging(settings)
    upgrade(settings.database_url)

    async def _demo() -> None:
        database = Database.from_settings(settings)
        try:
            summary = await load_demo(
                database,
                PointsPolicy.from_settings(settings),
                customers=customers,
                progress=progress,
            )
        finally:
            await database.dispose()
        typer.echo(
            f"rules: {summary.rules_stored} stored, {summary.rules_unchanged} unchanged "
            f"(ruleset version {summary.ruleset_version})"
        )
        if not summary.customers_added:
            typer.echo(f"demo events: already loaded for {summary.customers_before} customers")
        else:
            typer.echo(
                f"demo events: {summary.events_processed} processed, "
                f"{summary.events_refused} refused, for {summary.customers_added} new "
                f"customers ({summary.customers_before} before); "
                f"{summary.claims} rewards claimed"
            )
            refused = summary.fit_refused
            typer.echo(f"predictive fit: {'not stored: ' + refused if refused else 'stored'}")

    asyncio.run(_demo())


@cli.command()
def worker(
    metrics_port: Annotated[
        int, typer.Option(help="Serve Prometheus metrics on this port; 0 for none.")
    ] = 0,
) -> None:
    """Deliver webhooks until interrupted. Run several on PostgreSQL; one is enough on SQLite."""
    settings = get_settings()
    configure_logging(settings)
    if metrics_port:
        start_http_server(metrics_port)

    async def _work() -> None:
        database = Database.from_settings(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Finish the batch in flight, then stop: leases are released by recording it.
            loop.add_signal_handler(signum, stop.set)
        try:
            await webhook_worker.run(database, settings, stop)
        finally:
            await database.dispose()

    asyncio.run(_work())


def _parse_scopes(value: str) -> list[Scope]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    known = {s.value for s in Scope}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(sorted(known))}"
        )
    return [Scope(n) for n in names]


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated scopes, e.g. events:write,customers:read")
    ],
) -> None:
    """Create an API key and print its secret (shown only once)."""
    parsed = _parse_scopes(scopes)

    async def _create() -> str:
        database = Database.from_settings(get_settings())
        try:
            async with database.sessionmaker() as session, session.begin():
                _, secret = await auth_service.create_key(session, name=name, scopes=parsed)
        finally:
            await database.dispose()
        return secret

    typer.echo(asyncio.run(_create()))


@keys.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document instead.")] = False,
) -> None:
    """List API keys (never their secrets): id, name, prefix, scopes, created, revoked."""

    async def _list() -> list[ApiKey]:
        database = Database.from_settings(get_settings())
        try:
            async with database.read_sessionmaker() as session:
                return list(await auth_service.list_keys(session))
        finally:
            await database.dispose()

    found = asyncio.run(_list())
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": str(k.id),
                        "name": k.name,
                        "prefix": k.prefix,
                        "scopes": k.scopes,
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in found
                ],
                indent=2,
            )
        )
        return
    for k in found:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        typer.echo(
            f"{k.id}  {k.prefix}...  {k.name}  [{','.join(k.scopes)}]  "
            f"created {k.created_at:%Y-%m-%d %H:%M}  {state}"
        )


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id, from `keys list`.")],
) -> None:
    """Revoke an API key: it stops working with the next request. Revoking twice is fine."""

    async def _revoke() -> ApiKey:
        database = Database.from_settings(get_settings())
        try:
            async with database.sessionmaker() as session, session.begin():
                return await auth_service.revoke_key(session, key_id)
        finally:
            await database.dispose()

    try:
        key = asyncio.run(_revoke())
    except NotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"revoked {key.id} ({key.name})")


def main() -> None:
    cli()
