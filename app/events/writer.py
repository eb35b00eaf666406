"""The pipeline's one writer: a unit's changes as a few set-based Core statements.

Each kind of row is written once per unit: multi-row ``INSERT ... ON CONFLICT ...
RETURNING`` where the database must confirm a claim (a new customer, the event id, an
order, a referral), ``executemany`` for the rest, one ``UPDATE`` per changed customer.
A claim that comes back short means another worker committed the same key after the unit
read its state; ``UnitConflict`` then sends the whole unit round again, and the retry reads
what the other worker wrote. On SQLite the unit read its state inside its write transaction
(``BEGIN IMMEDIATE``), which no other writer can interleave with, so a claim cannot lose
there: the rows go in with a plain ``executemany``, and a conflict would be an error.
Ledger entry ids are allocated before the insert (SQLite: past the largest, under the write
lock; PostgreSQL: from the table's sequence), so that the lots and webhook messages that
refer to an entry need no ``RETURNING`` in row order. Statements are built once per dialect.
"""

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, func, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import inline_sqlite
from app.events.driver import SQLiteRows
from app.events.load import CUSTOMERS, EVENTS, LOTS, ORDERS, REWARDS, Subscriptions
from app.gamification.periods import PeriodKind, bounds, closes
from app.models import (
    ChallengeProgress,
    Coupon,
    CustomerBadge,
    CustomerPerk,
    CustomerStreak,
    ExperimentExposure,
    LeaderboardPeriod,
    LeaderboardScore,
    LedgerEntry,
    MessageStatus,
    Referral,
    RewardClaim,
    RewardCode,
    RuleBudget,
    RuleLimitCounter,
    WebhookMessage,
)
from app.models.base import table_of
from app.rules.unit import Message, UnitState, iso
from app.webhooks.outbox import new_message_id

_ENTRIES = table_of(LedgerEntry)
_REFERRALS = table_of(Referral)
_BADGES = table_of(CustomerBadge)
_PERKS = table_of(CustomerPerk)
_COUNTERS = table_of(RuleLimitCounter)
_BUDGETS = table_of(RuleBudget)
_MESSAGES = table_of(WebhookMessage)
_CLAIMS = table_of(RewardClaim)
_COUPONS = table_of(Coupon)
_CODES = table_of(RewardCode)
_EXPOSURES = table_of(ExperimentExposure)
_SCORES = table_of(LeaderboardScore)
_PERIODS = table_of(LeaderboardPeriod)
_STREAKS = table_of(CustomerStreak)
_PROGRESS = table_of(ChallengeProgress)


class UnitConflict(Exception):
    """A key the unit meant to claim was taken by a concurrent transaction."""


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@cache
def _statements(dialect: str) -> dict[str, Any]:
    insert = _insert(dialect)

    def claim(table: Table, key: str) -> Any:
        return insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])

    counters = insert(_COUNTERS)
    budgets = insert(_BUDGETS)
    perks = insert(_PERKS)
    scores = insert(_SCORES)
    streaks = insert(_STREAKS)
    progress = insert(_PROGRESS)
    latest = func.greatest if dialect == "postgresql" else func.max
    return {
        "customers": claim(CUSTOMERS, "id"),
        "events": claim(EVENTS, "id"),
        "orders": claim(ORDERS, "id"),
        "referrals": claim(_REFERRALS, "referred_customer_id"),
        "entries": insert(_ENTRIES),
        "entry_ids": (
            text(
                "SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id')) "
                "FROM generate_series(1, :n)"
            )
            if dialect == "postgresql"
            else text("SELECT coalesce(max(id), 0) FROM ledger_entries")
        ),
        "lots": insert(LOTS),
        "counters": counters.on_conflict_do_update(
            index_elements=["rule_id", "customer_id", "period_key"],
            set_={"count": counters.excluded.count},
        ),
        "budgets": budgets.on_conflict_do_update(
            index_elements=["rule_id"], set_={"issued": budgets.excluded.issued}
        ),
        "badges": insert(_BADGES).on_conflict_do_nothing(index_elements=["customer_id", "badge"]),
        "perks": perks.on_conflict_do_update(
            index_elements=["customer_id", "perk"],
            set_={
                name: perks.excluded[name]
                for name in ("granted_at", "expires_at", "event_id", "rule_id")
            },
        ),
        "messages": insert(_MESSAGES),
        "claims": insert(_CLAIMS),
        "coupons": insert(_COUPONS),
        "exposures": insert(_EXPOSURES).on_conflict_do_nothing(
            index_elements=["experiment_id", "customer_id"]
        ),
        # Added to, never recomputed: the customer's lock (PostgreSQL) or the write
        # transaction (SQLite) orders the units that add to one row.
        "scores": scores.on_conflict_do_update(
            index_elements=["leaderboard_id", "period_key", "customer_id"],
            set_={
                "score": _SCORES.c.score + scores.excluded.score,
                "reached_at": latest(_SCORES.c.reached_at, scores.excluded.reached_at),
                "hidden": scores.excluded.hidden,
            },
        ),
        # The unit read the row under the customer's lock: what it writes replaces it.
        "streaks": streaks.on_conflict_do_update(
            index_elements=["streak_id", "customer_id"],
            set_={"periods": streaks.excluded.periods, "updated_at": streaks.excluded.updated_at},
        ),
        "progress": progress.on_conflict_do_update(
            index_elements=["challenge_id", "customer_id"],
            set_={name: progress.excluded[name] for name in (*_PROGRESS_FIELDS, "updated_at")},
        ),
        "periods": insert(_PERIODS).on_conflict_do_nothing(
            index_elements=["leaderboard_id", "period_key"]
        ),
    }


# The SET clause of an executemany UPDATE comes from the parameters' keys.
_UPDATE_CUSTOMER = update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("_id"))
_UPDATE_ORDER = update(ORDERS).where(ORDERS.c.id == bindparam("_id"))
_UPDATE_LOT = update(LOTS).where(LOTS.c.id == bindparam("_id"))
# The rewards' rows are locked by the loader (PostgreSQL) or the write transaction (SQLite):
# the stock the reducer counted down is the stock to store.
_UPDATE_REWARD = update(REWARDS).where(REWARDS.c.id == bindparam("_id"))
_TAKE_CODE = update(_CODES).where(_CODES.c.code == bindparam("_code"))
_UPDATE_EXPOSURE = update(_EXPOSURES).where(
    _EXPOSURES.c.experiment_id == bindparam("_experiment"),
    _EXPOSURES.c.customer_id == bindparam("_customer"),
)


# What the writer stores of each kind of state, by column name (= attribute name).
_CUSTOMER = (
    "first_seen_at", "tier", "tier_changed_at", "purchase_count", "lifetime_spend",
    "first_purchase_at", "last_purchase_at", "referral_count", "points_earned",
    "points_redeemed", "points_expired", "points_reversed", "points_adjusted",
)  # fmt: skip
_ORDER = ("refunded_amount", "points_earned", "points_reversed", "points_shortfall")
_NEW_ORDER = ("id", "customer_id", "purchase_event_id", "amount", "currency", *_ORDER)
_ENTRY = (
    "id", "customer_id", "kind", "points", "event_id", "rule_id", "reason", "reference",
    "created_at", "occurred_at",
)  # fmt: skip
_LOT = (
    "customer_id", "event_id", "order_id", "points", "remaining", "available_at",
    "expires_at", "created_at",
)  # fmt: skip
_PERK = ("customer_id", "perk", "granted_at", "expires_at", "event_id", "rule_id")
_PROGRESS_FIELDS = (
    "window_start", "deadline", "progress", "window_completed", "completions", "completed_at",
)  # fmt: skip


def _values(state: Any, names: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return {**{name: getattr(state, name) for name in names}, **extra}


class _Out:
    """Runs the unit's statements: on SQLite's inline connection through sqlite3 itself,
    elsewhere through SQLAlchemy Core."""

    def __init__(self, conn: AsyncConnection, inline: SQLiteRows | None) -> None:
        self.conn, self.inline = conn, inline
        self.postgres = conn.dialect.name == "postgresql"

    async def many(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.inline is not None:
            self.inline.run(statement, rows)
        else:
            await self.conn.execute(statement, rows)

    async def claim(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        if not self.postgres:
            await self.many(statement, rows)
            return
        if rows and len((await self.conn.execute(statement, rows)).all()) != len(rows):
            raise UnitConflict(statement.table.name)

    async def entry_ids(self, statement: Any, count: int) -> list[int]:
        if self.postgres:
            return list((await self.conn.execute(statement, {"n": count})).scalars())
        largest = int((await self.conn.execute(statement)).scalar_one())
        return list(range(largest + 1, largest + 1 + count))


def _messages(
    messages: list[Message], targets: Subscriptions, now: datetime
) -> list[dict[str, Any]]:
    """One row per message and subscription that wants its type (fan-out at emit time)."""
    rows: list[dict[str, Any]] = []
    stamp = iso(now)
    for message in messages:
        if message.entry is not None:
            message.data["entry_id"] = message.entry.id
        wanting = [sid for sid, types in targets if not types or message.type in types]
        if not wanting:
            continue
        message_id = new_message_id()
        payload = {"type": message.type, "timestamp": stamp, "data": message.data}
        rows.extend(
            {
                "message_id": message_id,
                "subscription_id": subscription_id,
                "event_type": message.type,
                "payload": payload,
                "status": MessageStatus.pending.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for subscription_id in wanting
        )
    return rows


async def write(conn: AsyncConnection, unit: UnitState, targets: Subscriptions) -> None:
    """Write everything the unit's accepted events changed, in foreign-key order."""
    run = _statements(conn.dialect.name)
    inline = await inline_sqlite(conn)
    out = _Out(conn, SQLiteRows(inline) if inline is not None else None)
    touched = [c for c in unit.customers.values() if c.touched]
    await out.claim(
        run["customers"],
        [_values(c, _CUSTOMER, id=c.id, created_at=c.created_at) for c in touched if not c.exists],
    )
    await out.many(_UPDATE_CUSTOMER, [_values(c, _CUSTOMER, _id=c.id) for c in touched if c.exists])
    await out.claim(run["events"], unit.events)
    orders = unit.orders.values()
    await out.claim(
        run["orders"],
        [_values(o, _NEW_ORDER) for o in orders if o.new],
    )
    await out.many(
        _UPDATE_ORDER, [_values(o, _ORDER, _id=o.id) for o in orders if o.dirty and not o.new]
    )
    await out.claim(run["referrals"], unit.referrals)
    if unit.entries:
        ids = await out.entry_ids(run["entry_ids"], len(unit.entries))
        for entry, entry_id in zip(unit.entries, ids, strict=True):
            entry.id = entry_id
        await out.many(run["entries"], [_values(e, _ENTRY) for e in unit.entries])
    new_lots = []
    for lot in unit.lots:
        assert lot.entry is not None, "a lot credited in the unit has its entry"
        new_lots.append(_values(lot, _LOT, entry_id=lot.entry.id))
    await out.many(run["lots"], new_lots)
    changed_lots = [
        {"_id": lot.id, "remaining": lot.remaining}
        for customer in touched
        for lot in customer.lots
        if lot.dirty and lot.id is not None
    ]
    await out.many(_UPDATE_LOT, changed_lots)
    await out.many(
        run["counters"],
        [
            {
                "rule_id": rule_id,
                "customer_id": customer_id,
                "period_key": key,
                "count": unit.customers[customer_id].counters[(rule_id, key)],
            }
            for rule_id, customer_id, key in sorted(unit.counters)
        ],
    )
    await out.many(
        run["budgets"],
        [{"rule_id": r, "issued": unit.budgets[r]} for r in sorted(unit.budgets_used)],
    )
    await out.many(run["badges"], unit.badges)
    await out.many(
        run["perks"],
        [_values(p, _PERK) for p in unit.perks.values()],
    )
    await out.many(
        _UPDATE_REWARD,
        [{"_id": r.id, "stock": r.stock} for r in unit.rewards.values() if r.dirty],
    )
    await out.many(_TAKE_CODE, [{"_code": code, "taken_at": unit.now} for code in unit.codes_taken])
    await out.many(run["claims"], unit.claims)
    await out.many(run["coupons"], unit.coupons)
    await out.many(run["exposures"], unit.exposures)
    made = {(row["experiment_id"], row["customer_id"]) for row in unit.exposures}
    await out.many(
        _UPDATE_EXPOSURE,
        [
            {"_experiment": e, "_customer": c, "would_have": unit.would_have[(e, c)]}
            for e, c in sorted(unit.exposures_changed - made)
        ],
    )
    await _scores(out, run, unit)
    await out.many(
        run["streaks"],
        [
            {
                "streak_id": streak_id,
                "customer_id": customer_id,
                "periods": unit.customers[customer_id].streaks[streak_id],
                "updated_at": unit.now,
            }
            for streak_id, customer_id in sorted(unit.streaks_changed)
        ],
    )
    await out.many(
        run["progress"],
        [
            _values(
                unit.customers[customer_id].challenges[challenge_id],
                _PROGRESS_FIELDS,
                challenge_id=challenge_id,
                customer_id=customer_id,
                updated_at=unit.now,
            )
            for challenge_id, customer_id in sorted(unit.progress_changed)
        ],
    )

    await out.many(run["messages"], _messages(unit.messages, targets, unit.now))


async def _scores(out: _Out, run: dict[str, Any], unit: UnitState) -> None:
    """The unit's score changes, in key order (so that two units never wait on each other's
    rows crosswise), and the calendar periods they opened, for the closing job."""
    if not unit.scores:
        return
    keys = sorted(unit.scores)
    await out.many(
        run["scores"],
        [
            {
                "leaderboard_id": board,
                "period_key": period,
                "customer_id": customer,
                "score": unit.scores[(board, period, customer)].delta,
                "reached_at": unit.scores[(board, period, customer)].reached_at,
                "hidden": unit.scores[(board, period, customer)].hidden,
            }
            for board, period, customer in keys
        ],
    )
    kinds = {board.id: PeriodKind(board.period) for board in unit.boards}
    periods = []
    for board, period in sorted({(board, period) for board, period, _ in keys}):
        if closes(kinds[board]):
            starts_at, ends_at = bounds(kinds[board], period)
            periods.append(
                {
                    "leaderboard_id": board,
                    "period_key": period,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                }
            )
    await out.many(run["periods"], periods)
