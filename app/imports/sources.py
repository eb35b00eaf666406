"""What an import reads: events as JSON Lines, or a shop's order export as CSV.

Each source yields a ``Record`` per line: the event envelope that ``POST /v1/events``
takes, or the problem that kept the line from becoming one. The pipeline then judges the
envelopes exactly as it judges posted events, so an import and the API never disagree.
"""

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import problem_document

# The fields a CSV row maps to, and the column names (compared case-insensitively, with
# spaces and underscores alike) that common shop exports give them: Shopify's ("Name",
# "Email", "Created at", "Total", "Currency"), WooCommerce's and plain ones.
FIELDS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_id", "order id", "order number", "order", "name", "id"),
    "customer_id": ("customer_id", "customer id", "customer"),
    "email": ("email", "customer email", "billing email"),
    "occurred_at": ("created_at", "created at", "order date", "date", "paid at"),
    "amount": ("total", "order total", "amount", "total price"),
    "currency": ("currency",),
    "channel": ("channel", "source"),
}
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y")


@dataclass(slots=True)
class Record:
    """One line of the source: an event envelope, or the problem that kept it from one."""

    line: int
    source: str
    event: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None


class MappingError(ValueError):
    """The CSV header cannot give an event what it needs; nothing is imported."""


def _refused(detail: str, pointer: str = "") -> dict[str, Any]:
    return problem_document(
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=detail,
        instance=None,
        extra={"errors": [{"location": "body", "pointer": pointer, "detail": detail}]},
    )


def jsonl(path: Path) -> Iterator[Record]:
    """Every non-blank line of ``path``, each a ``POST /v1/events`` envelope."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                yield Record(number, text, event=json.loads(text))
            except json.JSONDecodeError as exc:
                yield Record(number, text, problem=_refused(f"not JSON: {exc}"))


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def columns(header: list[str], overrides: Mapping[str, str]) -> dict[str, str]:
    """Which column gives each field: ``overrides`` (column → field) first, then the
    defaults. Raises ``MappingError`` naming what is missing or unknown."""
    unknown = sorted(set(overrides.values()) - set(FIELDS))
    if unknown:
        raise MappingError(
            f"unknown field(s) {', '.join(unknown)} in --map; choose from {', '.join(FIELDS)}"
        )
    present = {_key(column): column for column in header}
    chosen: dict[str, str] = {}
    for column, field in overrides.items():
        if _key(column) not in present:
            raise MappingError(f"--map names column {column!r}, which the header lacks")
        chosen[field] = present[_key(column)]
    taken = set(chosen.values())
    for field, names in FIELDS.items():
        if field in chosen:
            continue
        match = next((present[n] for n in names if n in present), None)
        if match is not None and match not in taken:
            chosen[field] = match
            taken.add(match)
    needed = [f for f in ("order_id", "occurred_at", "amount") if f not in chosen]
    if "customer_id" not in chosen and "email" not in chosen:
        needed.append("customer_id or email")
    if needed:
        raise MappingError(
            f"no column for {', '.join(needed)} in the header ({', '.join(header)}); "
            "name one with --map COLUMN=FIELD"
        )
    return chosen


def timestamp(value: str) -> str:
    """An ISO 8601 instant; a time without an offset is taken as UTC."""
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for pattern in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"{value!r} is not a date and time this import reads") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def order_csv(
    path: Path, overrides: Mapping[str, str], *, currency: str | None, id_prefix: str
) -> Iterator[Record]:
    """A ``purchase`` event per order row. The event id is ``id_prefix`` + the order id,
    so that importing the file again finds every order already there.

    The header is read at once: a mapping that cannot work raises ``MappingError`` before
    a single row is imported."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        raise MappingError(f"{path} is empty")
    chosen = columns(header, overrides)
    if "currency" not in chosen and currency is None:
        raise MappingError("no currency column in the header; give --currency, e.g. EUR")
    index = {field: header.index(column) for field, column in chosen.items()}
    return _orders(path, index, currency, id_prefix)


def _orders(
    path: Path, index: dict[str, int], currency: str | None, id_prefix: str
) -> Iterator[Record]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            values = {f: row[i].strip() if i < len(row) else "" for f, i in index.items()}
            yield _order(reader.line_num, ",".join(row), values, currency, id_prefix)


def _order(
    line: int, source: str, values: dict[str, str], currency: str | None, id_prefix: str
) -> Record:
    customer = values.get("customer_id") or values.get("email", "").lower()
    if not customer:
        return Record(line, source, problem=_refused("the row has no customer id or email"))
    try:
        occurred_at = timestamp(values["occurred_at"])
    except ValueError as exc:
        return Record(line, source, problem=_refused(str(exc), "/occurred_at"))
    # Shopify names orders "#1001"; ids here are plain, so the mark is dropped.
    order_id = values["order_id"].removeprefix("#")
    event: dict[str, Any] = {
        "id": f"{id_prefix}{order_id}",
        "type": "purchase",
        "customer_id": customer,
        "occurred_at": occurred_at,
        "data": {
            "order_id": order_id,
            "amount": values["amount"],
            "currency": values.get("currency") or currency,
        },
    }
    if values.get("channel"):
        event["channel"] = values["channel"]
    return Record(line, source, event=event)
