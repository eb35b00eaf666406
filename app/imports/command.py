"""``reinforce import FILE``: the command line around the sources and the runner."""

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from app.config import get_settings
from app.console import progress
from app.database import Database
from app.imports import runner, sources
from app.ledger.policy import PointsPolicy
from app.logging import configure_logging
from app.migrations import upgrade


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _format_of(file: Path) -> Format:
    if file.suffix.lower() == ".csv":
        return Format.csv
    if file.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        return Format.jsonl
    raise typer.BadParameter(
        f"cannot tell the format of {file.name}; give --format", param_hint="FILE"
    )


def _overrides(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, field = pair.rpartition("=")
        if not sep or not column or not field:
            raise typer.BadParameter(f"{pair!r} is not COLUMN=FIELD", param_hint="--map")
        mapping[column] = field
    return mapping


def _count_lines(file: Path) -> int:
    with file.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="What to import.")
    ],
    format_: Annotated[
        Format | None,
        typer.Option("--format", help="jsonl (events) or csv (orders); by default the suffix's."),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="CSV: take FIELD from COLUMN, e.g. --map 'Order Number=order_id'. Fields: "
            + ", ".join(sources.FIELDS),
        ),
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="CSV: the currency of orders when no column gives it.")
    ] = None,
    id_prefix: Annotated[
        str, typer.Option(help="CSV: each order's event id is this prefix and its order id.")
    ] = "order-",
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Where refused lines go, with their problems [default: FILE.rejects.jsonl]"
        ),
    ] = None,
    chunk: Annotated[
        int, typer.Option(min=1, max=1000, help="Events per transaction, as in a batch.")
    ] = 1000,
) -> None:
    """Import history through the batch pipeline. Run it again to resume: what is there is
    skipped."""
    settings = get_settings()
    configure_logging(settings)
    kind = format_ or _format_of(file)
    overrides = _overrides(mapping or [])
    try:
        records = (
            sources.order_csv(file, overrides, currency=currency, id_prefix=id_prefix)
            if kind is Format.csv
            else sources.jsonl(file)
        )
    except sources.MappingError as exc:
        typer.echo(f"cannot import {file}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    upgrade(settings.database_url)
    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    total = _count_lines(file) - (1 if kind is Format.csv else 0)

    async def _import() -> runner.Summary:
        database = Database.from_settings(settings)
        try:
            with progress(total, f"importing {file.name}") as advance:
                return await runner.run(
                    database,
                    PointsPolicy.from_settings(settings),
                    records,
                    rejects=rejects,
                    chunk_size=chunk,
                    advance=advance,
                )
        finally:
            await database.dispose()

    summary = asyncio.run(_import())
    typer.echo(
        f"{summary.lines} lines in {summary.seconds:.1f} s ({summary.rate:,.0f} events/s): "
        f"{summary.imported} imported, {summary.already_there} already there, "
        f"{summary.refused} refused" + (f" (see {rejects})" if summary.refused else "")
    )
