"""Wire types shared by several domains."""

import base64
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, Field, StringConstraints

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
