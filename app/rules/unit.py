"""What a unit of events reads and changes, held in memory between the load and the write.

The loader fills a ``UnitState``; the reducer (``app.rules.state``) moves it on event by
event and appends each change to its lists; the writer (``app.events.writer``) turns those
lists into set-based statements. Nothing here does I/O.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.rules.engine import CompiledRuleset


def iso(value: datetime | None) -> str | None:
    """A datetime as pydantic serialises it in JSON (UTC as ``Z``), so that stored answers
    read the same whichever path wrote them."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@dataclass(slots=True)
class Entry:
    """A ledger entry to insert; ``id`` is set by the writer."""

    customer_id: str
    kind: str
    points: int
    event_id: str | None
    rule_id: str | None
    reason: str
    created_at: datetime
    # When the source event happened, stored beside ``created_at``.
    occurred_at: datetime
    reference: str | None = None
    id: int | None = None


@dataclass(slots=True)
class Lot:
    """An open points lot: loaded (``id`` set) or credited in this unit (``entry`` set)."""

    id: int | None
    customer_id: str
    event_id: str | None
    order_id: str | None
    points: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime
    entry: Entry | None = None
    dirty: bool = False


@dataclass(slots=True)
class OrderState:
    id: str
    customer_id: str
    purchase_event_id: str
    amount: Decimal
    currency: str
    refunded_amount: Decimal = Decimal(0)
    points_earned: int = 0
    points_reversed: int = 0
    points_shortfall: int = 0
    new: bool = False
    dirty: bool = False


@dataclass(slots=True)
class Perk:
    customer_id: str
    perk: str
    granted_at: datetime
    expires_at: datetime | None
    event_id: str | None
    rule_id: str | None


@dataclass(slots=True)
class RewardState:
    """A catalog reward an issue_coupon rule may hand out: loaded (and on PostgreSQL locked)
    with the unit, ``codes`` the pool's next free codes when it is pooled."""

    id: str
    current_version: int
    document: dict[str, Any]
    stock: int | None
    pooled: bool
    codes: list[str] = field(default_factory=list)
    dirty: bool = False


@dataclass(slots=True)
class Message:
    """A webhook message; a points message gets its entry's id once the entry is written."""

    type: str
    data: dict[str, Any]
    entry: Entry | None = None


@dataclass(frozen=True, slots=True)
class Board:
    """A live leaderboard, as the reducer scores events for it."""

    id: str
    score: str
    event_types: frozenset[str]
    period: str
    tier: str | None


@dataclass(frozen=True, slots=True)
class StreakDefinition:
    id: str
    event_types: frozenset[str]
    period: str
    grace: int


@dataclass(frozen=True, slots=True)
class ChallengeDefinition:
    """A live challenge as the reducer tracks it; its condition and actions are compiled
    into ``ChallengeSet.compiled``, as rules are."""

    id: str
    name: str
    # The goal: a count of events, or the sum of a data field, reaching ``target``.
    target: Decimal
    sum_of: str | None
    # A fixed window [starts_at, ends_at), or one of ``rolling_days`` from a customer's
    # first counted event.
    starts_at: datetime | None
    ends_at: datetime | None
    rolling_days: int | None
    repeat: str


@dataclass(frozen=True, slots=True)
class ChallengeSet:
    definitions: dict[str, ChallengeDefinition]
    compiled: CompiledRuleset


@dataclass(slots=True)
class Progress:
    """A customer's current window of one challenge."""

    window_start: datetime
    deadline: datetime
    progress: Decimal
    window_completed: bool
    completions: int
    completed_at: datetime | None


@dataclass(slots=True)
class ScoreChange:
    """What a unit adds to one (board, period, customer) score row."""

    delta: Decimal
    reached_at: datetime
    hidden: bool


@dataclass(slots=True)
class CustomerState:
    """One customer as the unit sees them; ``exists`` is False for a customer created here."""

    id: str
    exists: bool
    created_at: datetime
    first_seen_at: datetime
    tier: str | None = None
    tier_changed_at: datetime | None = None
    purchase_count: int = 0
    lifetime_spend: Decimal = Decimal(0)
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    referral_count: int = 0
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_reversed: int = 0
    points_adjusted: int = 0
    available: int = 0
    pending: int = 0
    # Points of lots past their expiry that the expiry job has not processed yet: already
    # expired for the balance, as ``app.ledger.service.balance`` counts them.
    overdue: int = 0
    badges: set[str] = field(default_factory=set)
    perks: dict[str, Perk] = field(default_factory=dict)
    # Open lots, loaded only for customers with a refund in the unit (what a clawback takes).
    lots: list[Lot] = field(default_factory=list)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    # Targeting facts (``app.customers.facts``), loaded only when the rules read them; the
    # reducer moves frequency and the last survey answers on with the unit's events.
    frequency: int = 0
    rfm_score: str | None = None
    probability_alive: float | None = None
    predicted_clv: float | None = None
    last_nps: int | None = None
    last_csat: int | None = None
    segments: frozenset[str] = frozenset()
    leaderboard_opt_out: bool = False
    # Streak id -> the customer's active periods, as runs (``app.rules.streaks``).
    streaks: dict[str, list[list[int]]] = field(default_factory=dict)
    # Challenge id -> progress, loaded only while challenges exist.
    challenges: dict[str, Progress] = field(default_factory=dict)
    touched: bool = False

    def balance(self) -> dict[str, int]:
        return {
            "available": self.available,
            "pending": self.pending,
            "lifetime_earned": self.points_earned,
            "redeemed": self.points_redeemed,
            "expired": self.points_expired + self.overdue,
            "earned": self.points_earned,
            "reversed": self.points_reversed,
            "adjusted": self.points_adjusted,
        }


@dataclass(frozen=True, slots=True)
class RunningExperiment:
    """A running experiment as the reducer sees it: enough to assign and expose."""

    id: str
    variants: tuple[tuple[str, int], ...]
    salt: str
    segment_id: str | None
    started_at: datetime


@dataclass(slots=True)
class UnitState:
    """Everything the unit's events read and change, and the changes for the writer."""

    now: datetime
    customers: dict[str, CustomerState] = field(default_factory=dict)
    orders: dict[str, OrderState] = field(default_factory=dict)
    referred: set[str] = field(default_factory=set)
    # The referral codes the unit's events carry, and the customers they belong to.
    referral_codes: dict[str, str] = field(default_factory=dict)
    # When those referrers' referrals happened, for the referral code cap.
    referral_times: dict[str, list[datetime]] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)
    rewards: dict[str, RewardState] = field(default_factory=dict)
    experiments: list[RunningExperiment] = field(default_factory=list)
    # (experiment id, customer id) -> variant, of those exposed; the audiences' segments
    # per customer.
    exposed: dict[tuple[str, str], str] = field(default_factory=dict)
    audiences: dict[str, frozenset[str]] = field(default_factory=dict)
    # (experiment id, customer id) -> the exposure's would_have, as loaded or made here.
    would_have: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # For a backtest: experiment id -> the variant every customer is taken to be in.
    forced: dict[str, str] = field(default_factory=dict)
    boards: tuple[Board, ...] = ()
    streaks: tuple[StreakDefinition, ...] = ()
    challenges: ChallengeSet | None = None
    # Changes, in the order they happened.
    events: list[dict[str, Any]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    referrals: list[dict[str, Any]] = field(default_factory=list)
    badges: list[dict[str, Any]] = field(default_factory=list)
    perks: dict[tuple[str, str], Perk] = field(default_factory=dict)
    counters: set[tuple[str, str, str]] = field(default_factory=set)
    budgets_used: set[str] = field(default_factory=set)
    claims: list[dict[str, Any]] = field(default_factory=list)
    coupons: list[dict[str, Any]] = field(default_factory=list)
    codes_taken: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    exposures: list[dict[str, Any]] = field(default_factory=list)
    # Loaded exposures whose would_have changed.
    exposures_changed: set[tuple[str, str]] = field(default_factory=set)
    # (board id, period key, customer id) -> the change to its score row.
    scores: dict[tuple[str, str, str], ScoreChange] = field(default_factory=dict)
    # (streak id, customer id) of the streak rows to write.
    streaks_changed: set[tuple[str, str]] = field(default_factory=set)
    # (challenge id, customer id) of the progress rows to write.
    progress_changed: set[tuple[str, str]] = field(default_factory=set)

    def customer(self, customer_id: str, seen_at: datetime) -> CustomerState:
        state = self.customers.get(customer_id)
        if state is None:
            state = CustomerState(customer_id, False, self.now, seen_at)
            self.customers[customer_id] = state
        return state
