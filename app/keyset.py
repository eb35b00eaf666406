"""Opaque cursors for keyset pages ordered by several columns (a time, then an id).

``app.schemas.encode_cursor`` carries one integer, enough for the ledger's ids; lists whose
order is (timestamp, shop-chosen id) need the whole key of the last row to continue after it.
"""

import base64
import json
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

_VERSION = "k1"


def encode_keyset(at: datetime, id_: str) -> str:
    raw = json.dumps([_VERSION, at.isoformat(), id_], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_keyset(cursor: str) -> tuple[datetime, str] | None:
    """The key in a cursor made by ``encode_keyset``; None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, at, id_ = json.loads(raw)
        position = datetime.fromisoformat(at)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if version != _VERSION or not isinstance(id_, str) or position.tzinfo is None:
        return None
    return position, id_


def before(
    at: InstrumentedAttribute[datetime], id_: InstrumentedAttribute[str], key: tuple[datetime, str]
) -> ColumnElement[bool]:
    """Rows after ``key`` in ``at DESC, id DESC`` order. Spelled out rather than as a row
    value comparison, which SQLite does not match against an index."""
    key_at, key_id = key
    return or_(at < key_at, and_(at == key_at, id_ < key_id))
