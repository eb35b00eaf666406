"""The driver-level floor: the rows one purchase's ingest writes, straight through sqlite3.

Each event writes what the starter programme's first purchase makes the service write: the
event (with its data and stored answer), the customer, the order, two ledger entries and
their lots, a limit counter and a badge. Three ways, on a fresh migrated database each:

- ``single``: one transaction per event (what one request per commit costs);
- ``grouped``: transactions of 100 events, row by row (group commit without set-based SQL);
- ``set_based``: groups of 1,000, one ``executemany`` per table (the batch path's shape).

No service code runs, so the figures are what the database and driver alone can do.
"""

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.migrations import upgrade

EVENTS = 5_000

_STATEMENTS = {
    "customers": "INSERT INTO customers (id, created_at, first_seen_at, purchase_count, "
    "lifetime_spend, referral_count, points_earned, points_redeemed, points_expired, "
    "points_reversed, points_adjusted) VALUES (?, ?, ?, 1, 42, 0, 92, 0, 0, 0, 0)",
    "events": "INSERT INTO events (id, type, customer_id, occurred_at, received_at, channel, "
    "data, attributes, body_hash, ruleset_version, response, order_id, amount, currency) "
    "VALUES (?, 'purchase', ?, ?, ?, 'web', ?, '{}', ?, 1, ?, ?, 42, 'EUR')",
    "orders": "INSERT INTO orders (id, customer_id, purchase_event_id, amount, currency, "
    "refunded_amount, points_earned, points_reversed, points_shortfall) "
    "VALUES (?, ?, ?, 42, 'EUR', 0, 92, 0, 0)",
    "entries": "INSERT INTO ledger_entries (customer_id, kind, points, event_id, rule_id, "
    "reason, created_at) VALUES (?, 'earn', ?, ?, 'points-per-purchase', 'purchase', ?)",
    "lots": "INSERT INTO point_lots (customer_id, entry_id, event_id, order_id, points, "
    "remaining, available_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "counters": "INSERT INTO rule_limit_counters (rule_id, customer_id, period_key, count) "
    "VALUES ('first-purchase-bonus', ?, 'lifetime', 1)",
    "badges": "INSERT INTO customer_badges (customer_id, badge, awarded_at, event_id, rule_id) "
    "VALUES (?, 'first-purchase', ?, ?, 'first-purchase-bonus')",
}

_ANSWER = json.dumps(
    {
        "event_id": "x",
        "effects": [{"action": "award_points", "points": 42}, {"action": "award_points"}],
        "balance": {"available": 92, "pending": 0, "lifetime_earned": 92},
    }
)
_DATA = json.dumps({"order_id": "x", "amount": "42.00", "currency": "EUR", "items": None})


def _write(cursor: sqlite3.Cursor, events: list[tuple[str, str, str]], now: str) -> None:
    """The rows of ``events`` (event id, customer id, order id), table by table."""
    run = cursor.executemany
    run(_STATEMENTS["customers"], [(c, now, now) for _, c, _ in events])
    run(
        _STATEMENTS["events"],
        [(e, c, now, now, _DATA, "h" * 64, _ANSWER, o) for e, c, o in events],
    )
    run(_STATEMENTS["orders"], [(o, c, e) for e, c, o in events])
    entries = [(c, p, e, now) for e, c, _ in events for p in (42, 50)]
    first = cursor.execute("SELECT coalesce(max(id), 0) FROM ledger_entries").fetchone()[0]
    run(_STATEMENTS["entries"], entries)
    run(
        _STATEMENTS["lots"],
        [
            (c, first + i + 1, e, None, p, p, now, now, now)
            for i, (c, p, e, _) in enumerate(entries)
        ],
    )
    run(_STATEMENTS["counters"], [(c,) for _, c, _ in events])
    run(_STATEMENTS["badges"], [(c, now, e) for e, c, _ in events])


def _events(count: int) -> list[tuple[str, str, str]]:
    return [(f"e-{uuid.uuid4().hex}", f"c-{i}", f"o-{uuid.uuid4().hex}") for i in range(count)]


def _timed(
    path: Path, group: int, write: Callable[[sqlite3.Cursor, list[Any], str], None]
) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    cursor = connection.cursor()
    events = _events(EVENTS)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    started = time.perf_counter()
    for offset in range(0, len(events), group):
        cursor.execute("BEGIN IMMEDIATE")
        write(cursor, events[offset : offset + group], now)
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed / len(events)


def _row_by_row(cursor: sqlite3.Cursor, events: list[Any], now: str) -> None:
    for one in events:
        _write(cursor, [one], now)


def run(workdir: Path) -> dict[str, Any]:
    """Per-event cost (µs) and events/s of each way, on fresh migrated SQLite files."""
    out: dict[str, Any] = {"events": EVENTS}
    for name, group, write in (
        ("single", 1, _row_by_row),
        ("grouped", 100, _row_by_row),
        ("set_based", 1000, _write),
    ):
        path = workdir / f"floor-{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        upgrade(f"sqlite+aiosqlite:///{path}")
        per_event = _timed(path, group, write)
        out[name] = {
            "us_per_event": round(per_event * 1e6, 1),
            "events_per_s": round(1 / per_event),
        }
    return out
