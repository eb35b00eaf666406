"""The writer's rows straight into sqlite3, on SQLite's inline write connection.

SQLAlchemy's executemany builds a parameter dictionary per row and runs every value through
its type's processor, which for a unit of events cost more than SQLite's own work. Here each
statement is compiled once to SQLite's SQL, with the processors of its parameters, and the
unit's rows go to ``sqlite3.Cursor.executemany`` as tuples. The SQL and the stored values
are exactly what SQLAlchemy would have sent; a datetime seen twice in a unit (most are the
unit's own clock) is formatted once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

_DIALECT = sqlite.dialect()


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    datetimes: tuple[bool, ...]
    # Scalar column defaults, for columns a row leaves out (SQLAlchemy fills them alike).
    defaults: dict[str, Any]


@cache
def _plan(statement: Any, columns: tuple[str, ...]) -> _Plan:
    compiled = statement.compile(dialect=_DIALECT, column_keys=list(columns))
    names = tuple(compiled.positiontup or ())
    types = [compiled.binds[name].type for name in names]
    return _Plan(
        compiled.string,
        names,
        tuple(t.dialect_impl(_DIALECT).bind_processor(_DIALECT) for t in types),
        tuple(isinstance(getattr(t, "impl", t), DateTime) for t in types),
        {
            column.key: column.default.arg
            for column in statement.table.c
            if column.default is not None and column.default.is_scalar
        },
    )


class SQLiteRows:
    """Executes Core statements over many rows on one sqlite3 connection."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._datetimes: dict[datetime, Any] = {}

    def run(self, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        plan = _plan(statement, tuple(rows[0]))
        seen = self._datetimes
        steps = list(zip(plan.names, plan.processors, plan.datetimes, strict=True))
        values = []
        for row in rows:
            out = []
            for name, process, is_datetime in steps:
                value = row[name] if name in row else plan.defaults[name]
                if process is not None:
                    if is_datetime and value is not None:
                        converted = seen.get(value)
                        if converted is None:
                            converted = seen[value] = process(value)
                        value = converted
                    else:
                        value = process(value)
                out.append(value)
            values.append(out)
        self._connection.executemany(plan.sql, values)
