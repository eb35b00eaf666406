"""A generated history written by bulk insert, as the service would have written it.

1,000,000 events across 100,000 customers over two years: each customer signs up, then
posts a number of events drawn from a gamma-Poisson mixture (a few heavy buyers, many
one-off ones: the shape BG/NBD models expect) until they drop out after an exponential
lifetime whose rate varies between customers. Events come from three channels, and
customers carry a tier by lifetime spend. Two leaderboards get the score rows the
pipeline would have kept (points over all time; spend per month). Every purchase earns
what the default ruleset gives (1 point per whole currency unit) as one ledger entry and
one lot, and the customer rows carry the aggregates the service keeps, so reads and the
ledger invariant see a consistent database. Expiry has not run (as before the first
`reinforce expire`).

Rows go in through the drivers' bulk paths (sqlite3 ``executemany`` in one transaction;
asyncpg ``COPY``), not through the ORM: that is what keeps it to a fraction of a minute.
"""

import asyncio
import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import numpy as np
from sqlalchemy.engine import make_url

RULE_ID = "default-points-per-unit"
RULE_NAME = "1 point per currency unit"
VALIDITY = timedelta(days=365)
TYPES = (
    ("purchase", 0.70),
    ("review", 0.08),
    ("feedback", 0.07),
    ("renewal", 0.04),
    ("social_engagement", 0.04),
    ("subscription", 0.03),
    ("referral", 0.02),
    ("cancellation", 0.02),
)
CHANNELS = ("web", "app", "store")
LIFETIME = timedelta(days=365)
# A customer's tier from lifetime spend, highest first (the bench writes no tier history).
TIERS = (("gold", Decimal(2000)), ("silver", Decimal(500)))

RESPONSE = (
    '{{"event_id": "{eid}", "customer_id": "{cid}", "type": "{kind}", "status": "processed", '
    '"ruleset_version": 0, "effects": {effects}, "balance": {{"available": {earned}, '
    '"pending": 0, "lifetime_earned": {earned}, "redeemed": 0, "expired": 0}}, "explain": null}}'
)


@dataclass
class History:
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[tuple[Any, ...]] = field(default_factory=list)
    referrals: list[tuple[Any, ...]] = field(default_factory=list)
    leaderboards: list[tuple[Any, ...]] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.__dict__.items()}


COLUMNS = {
    "customers": (
        "id", "created_at", "first_seen_at", "tier", "tier_changed_at", "purchase_count",
        "lifetime_spend", "first_purchase_at", "last_purchase_at", "referral_count",
        "points_earned", "points_redeemed", "points_expired", "points_reversed",
        "points_adjusted",
    ),
    "events": (
        "id", "type", "customer_id", "occurred_at", "received_at", "channel", "data",
        "attributes", "body_hash", "ruleset_version", "response", "order_id", "amount",
        "currency", "referred_customer_id", "survey", "score",
    ),
    "orders": (
        "id", "customer_id", "purchase_event_id", "amount", "currency", "refunded_amount",
        "points_earned", "points_reversed", "points_shortfall",
    ),
    "ledger_entries": (
        "id", "customer_id", "kind", "points", "event_id", "rule_id", "reason", "reference",
        "created_at", "occurred_at",
    ),
    "point_lots": (
        "id", "customer_id", "entry_id", "event_id", "order_id", "points", "remaining",
        "available_at", "expires_at", "created_at",
    ),
    "referrals": ("referred_customer_id", "referrer_id", "event_id", "occurred_at"),
    "leaderboards": (
        "id", "name", "description", "score", "event_types", "period", "rolling_days", "tier",
        "rewards", "created_at", "updated_at", "deleted_at",
    ),
    "leaderboard_scores": (
        "leaderboard_id", "period_key", "customer_id", "score", "reached_at", "hidden",
    ),
}  # fmt: skip
TABLES = {
    "customers": "customers",
    "events": "events",
    "orders": "orders",
    "entries": "ledger_entries",
    "lots": "point_lots",
    "referrals": "referrals",
    "leaderboards": "leaderboards",
    "scores": "leaderboard_scores",
}
# The leaderboards the read side times, with their score rows as the pipeline keeps them:
# points earned over all time (a row per customer with points: the largest board), and
# purchase amounts per month (the latest month is read).
POINTS_BOARD = "bench-points"
MONTHLY_BOARD = "bench-monthly-spend"


def customer_id(index: int) -> str:
    return f"c{index:06d}"


def generate(
    events: int = 1_000_000, customers: int = 100_000, days: int = 730, seed: int = 8
) -> History:
    """The whole history in memory, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    # Heterogeneous activity: gamma weights, then the exact total split among customers.
    weights = rng.gamma(0.8, 1.0, customers)
    extra = rng.multinomial(events - customers, weights / weights.sum())
    joined = np.sort(rng.uniform(0, 0.9, customers))
    names = [t for t, _ in TYPES]
    shares = np.array([p for _, p in TYPES])
    kinds = rng.choice(len(names), size=events - customers, p=shares / shares.sum())
    amounts = np.round(rng.lognormal(3.7, 0.7, events - customers), 2)
    scores = rng.integers(0, 11, events - customers)
    referred = iter(rng.permutation(customers))
    # Channels and tiers, so that the metrics' breakdowns have groups to break into.
    channels = iter(rng.choice(CHANNELS, size=events, p=[0.6, 0.3, 0.1]).tolist())
    # Customers drop out, as in the Pareto/NBD story: each is active for an exponential
    # lifetime whose rate varies between customers (gamma). Without dropout, or with one
    # rate for all, BG/NBD's dropout parameters are not identified and the fit fails.
    dropout_rates = rng.gamma(1.0, 1 / LIFETIME.total_seconds(), customers)
    lifetimes = rng.exponential(1 / dropout_rates)

    h = History()
    for board, score, period in (
        (POINTS_BOARD, "points_earned", "all_time"),
        (MONTHLY_BOARD, "purchase_amount", "month"),
    ):
        h.leaderboards.append(
            (board, board, None, score, "[]", period, None, None, "[]", start, start, None)
        )
    n = 0  # index into the per-extra-event arrays
    entry_id = 0
    for c in range(customers):
        cid = customer_id(c)
        first_seen = start + timedelta(seconds=float(joined[c]) * span)
        active_for = min((now - first_seen).total_seconds(), float(lifetimes[c]))
        offsets = np.sort(rng.uniform(0, active_for, int(extra[c])))
        purchases = 0
        spend = Decimal(0)
        first_purchase: datetime | None = None
        last_purchase: datetime | None = None
        referrals = 0
        earned = 0
        # Month key -> (spend, when it was reached), as app.gamification.scoring adds up.
        monthly: dict[str, tuple[Decimal, datetime]] = {}
        timeline = [("signup", first_seen)] + [
            (names[kinds[n + i]], first_seen + timedelta(seconds=float(o)))
            for i, o in enumerate(offsets)
        ]
        for index, (kind, at) in enumerate(timeline):
            eid = f"h{c:06d}-{index}"
            data: dict[str, Any] = {}
            typed: dict[str, Any] = {}
            effects: list[dict[str, Any]] = []
            if index:
                i = n
                n += 1
            if kind == "purchase":
                amount = Decimal(f"{amounts[i]:.2f}")
                order_id = f"o{c:06d}-{index}"
                data = {"order_id": order_id, "amount": str(amount), "currency": "EUR"}
                typed = {"order_id": order_id, "amount": amount, "currency": "EUR"}
                points = math.floor(amount)
                purchases += 1
                spend += amount
                first_purchase = first_purchase or at
                last_purchase = at
                month = f"{at.year:04d}-{at.month:02d}"
                monthly[month] = (monthly.get(month, (Decimal(0), at))[0] + amount, at)
                h.orders.append((order_id, cid, eid, amount, "EUR", Decimal(0), points, 0, 0))
                if points > 0:
                    entry_id += 1
                    earned += points
                    h.entries.append(
                        (entry_id, cid, "earn", points, eid, RULE_ID,
                         f"{RULE_NAME} (purchase {eid})", None, at, at)
                    )  # fmt: skip
                    h.lots.append(
                        (entry_id, cid, entry_id, eid, order_id, points, points, at,
                         at + VALIDITY, at)
                    )  # fmt: skip
                    effects.append(
                        {"rule_id": RULE_ID, "rule_name": RULE_NAME, "action": "award_points",
                         "points": points}
                    )  # fmt: skip
            elif kind == "review":
                data = {"rating": int(scores[i] % 5 + 1)}
            elif kind == "feedback":
                if scores[i] % 2:
                    data = {"survey": "nps", "score": int(scores[i])}
                else:
                    data = {"survey": "csat", "score": int(scores[i] % 5 + 1)}
                typed = {"survey": data["survey"], "score": data["score"]}
            elif kind == "renewal":
                data = {"subscription_id": f"s{c:06d}", "amount": "9.90"}
                typed = {"amount": Decimal("9.90")}
            elif kind == "referral":
                other = next(referred, None)
                target = customer_id(int(other)) if other is not None and other != c else None
                data = {"referred_customer_id": target or f"x{c:06d}-{index}"}
                typed = {"referred_customer_id": data["referred_customer_id"]}
                referrals += 1
                h.referrals.append((data["referred_customer_id"], cid, eid, at))
            data_json = json.dumps(data)
            # A digest of the body's fields (not pydantic's canonical form: these ids are
            # never replayed).
            digest = hashlib.sha256(f"{eid}|{kind}|{cid}|{at}|{data_json}".encode()).hexdigest()
            # Formatted rather than json.dumps'd: a third of the generation time otherwise.
            response = RESPONSE.format(
                eid=eid, cid=cid, kind=kind, effects=json.dumps(effects), earned=earned
            )
            h.events.append(
                (eid, kind, cid, at, at, next(channels), data_json, "{}", digest, 0,
                 response, typed.get("order_id"), typed.get("amount"),
                 typed.get("currency"), typed.get("referred_customer_id"), typed.get("survey"),
                 typed.get("score"))
            )  # fmt: skip
        if earned:
            h.scores.append((POINTS_BOARD, "all_time", cid, Decimal(earned), last_purchase, False))
        h.scores.extend(
            (MONTHLY_BOARD, month, cid, total, reached, False)
            for month, (total, reached) in monthly.items()
        )
        tier = next((name for name, floor in TIERS if spend >= floor), None)
        h.customers.append(
            (cid, first_seen, first_seen, tier, None, purchases, spend, first_purchase,
             last_purchase, referrals, earned, 0, 0, 0, 0)
        )  # fmt: skip
    return h


# --------------------------------------------------------------------------- writers


def _sqlite_dt(value: datetime | None) -> str | None:
    # What SQLAlchemy's SQLite DateTime stores: naive UTC text with microseconds.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_rows(table: str, rows: list[tuple[Any, ...]]) -> Any:
    """Rows as SQLite stores them: datetimes as text, Numeric as floats.

    Only the datetime and decimal columns are converted: checking every value's type was
    two thirds of the write time.
    """
    columns = COLUMNS[table]
    datetimes = [i for i, c in enumerate(columns) if c.endswith("_at")]
    decimals = [
        i
        for i, c in enumerate(columns)
        if c in _DECIMAL_COLUMNS or (table == "leaderboard_scores" and c == "score")
    ]
    for row in rows:
        values = list(row)
        for i in datetimes:
            values[i] = _sqlite_dt(values[i])
        for i in decimals:
            if values[i] is not None:
                values[i] = float(values[i])
        yield values


_DECIMAL_COLUMNS = frozenset({"amount", "lifetime_spend", "refunded_amount"})


def write_sqlite(path: str, history: History) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A bulk load needs no journal and a cache big enough to hold the index pages
        # being filled; the service's WAL mode is restored afterwards.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("BEGIN")
        for attribute, table in TABLES.items():
            columns = COLUMNS[table]
            placeholders = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                _sqlite_rows(table, getattr(history, attribute)),
            )
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


async def _write_postgres(url: str, history: History) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            for attribute, table in TABLES.items():
                await connection.copy_records_to_table(
                    table, records=getattr(history, attribute), columns=list(COLUMNS[table])
                )
            for table in ("ledger_entries", "point_lots"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        # What autovacuum does to a table after a bulk load, done before the timings rather
        # than during them: without it every index-only scan visits the table to check
        # each row's visibility (the metrics' scans took twice as long).
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()


def write(url: str, history: History) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        write_sqlite(parsed.database, history)
    else:
        asyncio.run(_write_postgres(url, history))
