"""Wire types shared by several domains."""

import base64
import math
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# Ids chosen by the shop: printable, no spaces, safe in a URL path segment.
ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"),
]


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first. Pass ``next_cursor`` back as ``cursor`` for more."""

    items: list[T]
    next_cursor: str | None = Field(description="Opaque; absent on the last page.", default=None)


MAX_PAGE_SIZE = 200

# The largest values of INTEGER and BIGINT columns: a larger number in a path or cursor
# would overflow the database driver instead of simply matching nothing.
MAX_DB_INT = 2**31 - 1
MAX_DB_BIGINT = 2**63 - 1


CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
CURSOR_DESCRIPTION = (
    "A `next_cursor` from the previous page, as given; any other value is a 422 (`invalid-cursor`)."
)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The position in a cursor made by ``encode_cursor``; None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, position = raw.split(":", 1)
        value = int(position)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if version == "v1" and 0 < value <= MAX_DB_BIGINT else None


# ------------------------------------------------------------------ bounds of the contract
# Stated in the OpenAPI document (schema keywords where JSON Schema has one, descriptions
# otherwise) and checked before anything is written, so that no input reaches a column or
# a computation that cannot hold it.

MIN_YEAR, MAX_YEAR = 1970, 9000
# The written year (before any conversion to UTC, which moves it by a day at most).
_YEAR_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3}|9000)-"


def _not_a_number(value: object) -> object:
    # pydantic reads a number as a Unix timestamp; the contract says RFC 3339 text, which
    # carries the offset a number cannot.
    # A query's value is always text: there, a string of digits is the number.
    numeric = isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    if isinstance(value, int | float) or numeric:
        raise PydanticCustomError(
            "datetime_type", "a date-time is RFC 3339 text with an offset, not a number"
        )
    return value


def _within_years(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise PydanticCustomError(
            "datetime_range",
            "the year must be within the years {low} to {high}",
            {"low": MIN_YEAR, "high": MAX_YEAR},
        )
    return value


BoundedDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_not_a_number),
    AfterValidator(_within_years),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": _YEAR_PATTERN,
            "description": f"RFC 3339 text with an offset, years {MIN_YEAR} to {MAX_YEAR}.",
        }
    ),
]

# One award, redemption or adjustment; and everything one event may earn once multipliers
# are applied. Far inside 64 bits, so that no counter summing them overflows in practice.
MAX_AWARD_POINTS = 1_000_000_000
MAX_EVENT_POINTS = 1_000_000_000_000

# Free-form JSON (event attributes, the extra members of free-form data): what every
# database stores and every client reads back the same way.
MAX_JSON_DEPTH = 16
MAX_JSON_STRING = 10_000
MAX_JSON_INT = 2**63 - 1
FREE_JSON_RULES = (
    f"nested at most {MAX_JSON_DEPTH} levels; numbers finite (no NaN or Infinity) and "
    f"integers within 64 bits; strings at most {MAX_JSON_STRING} characters, without NUL"
)


def _scalar_error(value: Any) -> str | None:
    """Why the scalar ``value`` breaks the free-form rules, if it does."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    if isinstance(value, int):
        return None if -MAX_JSON_INT - 1 <= value <= MAX_JSON_INT else "outside 64 bits"
    if isinstance(value, str):
        if len(value) > MAX_JSON_STRING:
            return f"longer than {MAX_JSON_STRING} characters"
        return "NUL characters are not allowed" if "\x00" in value else None
    return None


def free_json_errors(
    value: Any, path: tuple[int | str, ...] = ()
) -> Iterator[tuple[tuple[int | str, ...], str]]:
    """``(path, reason)`` for each value in ``value`` that breaks the free-form rules.

    Iterative, so that a document nested deeper than the interpreter's stack is refused
    rather than crashing the walk."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [(path, value)]
    base = len(path)
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            if len(where) - base >= MAX_JSON_DEPTH:
                yield where, f"nested deeper than {MAX_JSON_DEPTH} levels"
                continue
            for key, child in node.items():
                if "\x00" in key:
                    yield (*where, key), "NUL characters are not allowed"
                stack.append(((*where, key), child))
        elif isinstance(node, list):
            if len(where) - base >= MAX_JSON_DEPTH:
                yield where, f"nested deeper than {MAX_JSON_DEPTH} levels"
                continue
            stack.extend(((*where, index), child) for index, child in enumerate(node))
        else:
            reason = _scalar_error(node)
            if reason:
                yield where, reason


# An instant a query names (a metrics window's edge, an events filter): a date or a datetime
# with an offset, in the bodies' years, which keep the metrics' window arithmetic (a date
# `to` moves to the next midnight, activity looks up to 10 years back, the conversion to
# UTC moves a day at most) inside what datetime and both databases carry.
Instant = Annotated[
    AwareDatetime | date, BeforeValidator(_not_a_number), AfterValidator(_within_years)
]
