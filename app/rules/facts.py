"""The facts a rule can test, and the plain data the database layer hands to the evaluator.

Rules name facts by dotted path (``data.amount``, ``customer.tier``). The catalogue below is the
single source of truth for which paths exist and what kind of value each holds: the rule schema
uses it to refuse nonsense at write time, and the engine uses it to build fact readers.

Nothing here performs I/O, so the evaluator stays a pure function of these dataclasses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from app.events.types import EVENT_TYPES

# Shops send whatever they like in these types' ``data``, so any ``data.<name>`` is accepted
# for them; the few fields listed for upgrade and social_engagement are known but not exhaustive.
FREE_FORM_DATA_TYPES: Final[frozenset[str]] = frozenset(
    {"signup", "subscription", "social_engagement", "upgrade", "cancellation"}
)


class FactKind(StrEnum):
    """The kind of value a fact holds; it decides which operators and values make sense."""

    NUMBER = "number"
    INTEGER = "integer"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    STRING_LIST = "list_of_strings"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class FactSpec:
    """One entry of the fact catalogue.

    ``path`` is the dotted name used in rules; a ``<name>`` placeholder marks a family of facts
    (``attributes.<name>``). ``nullable`` means the fact may legitimately be absent for a
    customer or event, in which case every comparison on it is false and ``exists`` is false.
    """

    path: str
    kind: FactKind
    description: str
    nullable: bool = False


def _spec(path: str, kind: FactKind, description: str, nullable: bool = False) -> FactSpec:
    return FactSpec(path=path, kind=kind, description=description, nullable=nullable)


_N, _I, _S = FactKind.NUMBER, FactKind.INTEGER, FactKind.STRING

# Facts whose path is fixed, whatever the event type.
STATIC_FACTS: Final[Mapping[str, FactSpec]] = MappingProxyType(
    {
        s.path: s
        for s in (
            _spec("event.type", _S, "The event type, e.g. 'purchase'."),
            _spec(
                "event.channel",
                _S,
                "The channel the shop reported for the event (e.g. 'web', 'pos'); absent if none.",
                nullable=True,
            ),
            _spec(
                "event.referred",
                FactKind.BOOLEAN,
                "True when this signup or purchase recorded a referral through another "
                "customer's referral code (data.referral_code): the welcome reward's fact.",
            ),
            _spec(
                "event.occurred_at",
                FactKind.DATETIME,
                "When the event happened (timezone-aware ISO 8601 timestamp).",
            ),
            _spec(
                "customer.purchase_count",
                _I,
                "Number of purchases the customer made before this event.",
            ),
            _spec(
                "customer.lifetime_spend",
                _N,
                "Total amount the customer spent before this event.",
            ),
            _spec(
                "customer.days_since_last_purchase",
                _I,
                "Whole days between the customer's previous purchase and this event; "
                "absent if the customer never purchased.",
                nullable=True,
            ),
            _spec(
                "customer.tier",
                _S,
                "The customer's current tier (e.g. 'gold'); absent if the customer has none.",
                nullable=True,
            ),
            _spec(
                "customer.badges",
                FactKind.STRING_LIST,
                "Slugs of the badges the customer already holds.",
            ),
            _spec(
                "customer.available_points",
                _I,
                "Points the customer can spend right now, before this event's awards.",
            ),
            _spec(
                "customer.signup_date",
                FactKind.DATE,
                "Date (UTC) of the customer's first recorded event; absent for a new customer.",
                nullable=True,
            ),
            _spec(
                "customer.referral_count",
                _I,
                "Number of customers this customer referred before this event.",
            ),
            _spec(
                "customer.recency_days",
                _I,
                "Whole days since the customer's latest purchase (before this event, for a "
                "rule; before now, for a segment); absent if the customer never purchased.",
                nullable=True,
            ),
            _spec(
                "customer.frequency", _I, "Purchases in the last REINFORCE_FREQUENCY_WINDOW_DAYS."
            ),
            _spec(
                "customer.monetary",
                _N,
                "Average order value (lifetime spend / purchases); absent without a purchase.",
                nullable=True,
            ),
            _spec(
                "customer.rfm_score",
                _S,
                "Recency, frequency and monetary quintiles (1..5 each, 5 the best) among the "
                "customers who purchased, as e.g. '545'; absent without a purchase.",
                nullable=True,
            ),
            *(
                _spec(f"customer.{name}", _N, f"{what} from the latest CLTV fit.", nullable=True)
                for name, what in (("probability_alive", "P(alive)"), ("predicted_clv", "CLTV"))
            ),
            *(
                _spec(f"customer.last_{name}", _I, f"The latest {name} answer.", nullable=True)
                for name in ("nps", "csat")
            ),
            _spec("customer.segments", FactKind.STRING_LIST, "Ids of the customer's segments."),
            _spec(
                "time.weekday",
                _I,
                "Day of the week the event occurred, in UTC: 0=Monday .. 6=Sunday.",
            ),
            _spec("time.hour", _I, "Hour of the day the event occurred, in UTC: 0..23."),
        )
    }
)

ATTRIBUTES_FACT: Final[FactSpec] = _spec(
    "attributes.<name>",
    FactKind.ANY,
    "A shop-specific fact sent in the event's 'attributes' object; nested objects are reached "
    "with further dots (attributes.profile.age). Its type is only known at evaluation time.",
    nullable=True,
)
STREAK_FACTS: Final[tuple[FactSpec, ...]] = (
    _spec(
        "customer.streaks.<id>.current",
        _I,
        "The customer's current streak of the streak definition <id> (PUT "
        "/v1/rules/streaks/<id>), in periods, as it was before this event at the event's time; "
        "0 when broken. Absent when no such streak is defined.",
        nullable=True,
    ),
    _spec(
        "customer.streaks.<id>.best",
        _I,
        "The customer's longest streak of <id> before this event.",
        nullable=True,
    ),
    _spec(
        "event.streaks.<id>",
        _I,
        "The customer's current streak of <id> once this event is counted (its own period, "
        "even when back-dated).",
        nullable=True,
    ),
)
FREE_FORM_DATA_FACT: Final[FactSpec] = _spec(
    "data.<name>",
    FactKind.ANY,
    "Any field of the event's 'data' object, for event types whose data is free-form "
    "(signup, subscription, social_engagement, upgrade, cancellation).",
    nullable=True,
)


def _data(*fields: tuple[str, FactKind, str, bool]) -> Mapping[str, FactSpec]:
    return MappingProxyType(
        {name: _spec(f"data.{name}", kind, desc, optional) for name, kind, desc, optional in fields}
    )


# Known ``data`` fields per event type: (field, kind, description, optional).
EVENT_DATA_FIELDS: Final[Mapping[str, Mapping[str, FactSpec]]] = MappingProxyType(
    {
        "purchase": _data(
            ("order_id", _S, "The shop's order identifier.", False),
            ("amount", _N, "Order amount (greater than 0).", False),
            ("currency", _S, "ISO 4217 currency code of the amount, e.g. 'EUR'.", False),
            ("items", FactKind.ANY, "Optional list of order line objects.", True),
        ),
        "refund": _data(
            ("order_id", _S, "The refunded order's identifier.", False),
            ("amount", _N, "Refunded amount.", False),
        ),
        "referral": _data(
            ("referred_customer_id", _S, "The customer who was referred.", False),
        ),
        "review": _data(
            ("rating", _I, "Star rating, 1..5.", False),
            ("product_id", _S, "The reviewed product, if any.", True),
            ("text", _S, "The review text, if any.", True),
        ),
        "renewal": _data(
            ("subscription_id", _S, "The renewed subscription.", False),
            ("plan", _S, "The subscription plan, if given.", True),
            ("amount", _N, "Amount charged for the renewal, if given.", True),
        ),
        "upgrade": _data(
            ("plan", _S, "The plan upgraded to, if given.", True),
            ("amount", _N, "Amount charged for the upgrade, if given.", True),
        ),
        "social_engagement": _data(
            ("network", _S, "The social network, e.g. 'instagram', if given.", True),
            ("action", _S, "What the customer did, e.g. 'share', if given.", True),
        ),
        "feedback": _data(
            ("survey", _S, "Survey kind: 'nps' or 'csat'.", False),
            ("score", _I, "Survey score: nps 0..10, csat 1..5.", False),
            ("comment", _S, "Free-text comment, if any.", True),
        ),
        "signup": _data(),
        "subscription": _data(),
        "cancellation": _data(),
    }
)

# Names are kept to identifier-like segments so paths stay unambiguous to split on dots.
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")
MAX_PATH_SEGMENTS: Final[int] = 6


def _segments_ok(segments: list[str]) -> bool:
    return 0 < len(segments) <= MAX_PATH_SEGMENTS and all(_SEGMENT.match(s) for s in segments)


def _streak_fact(path: str) -> FactSpec | None:
    parts = path.split(".")
    if len(parts) < 3 or parts[1] != "streaks" or not _SEGMENT.match(parts[2]):
        return None
    if parts[0] == "customer" and len(parts) == 4 and parts[3] in ("current", "best"):
        template = STREAK_FACTS[0 if parts[3] == "current" else 1]
    elif parts[0] == "event" and len(parts) == 3:
        template = STREAK_FACTS[2]
    else:
        return None
    return FactSpec(path, template.kind, template.description, nullable=True)


def resolve_fact(path: str, types: Iterable[str]) -> FactSpec | None:
    """Return the catalogue entry for ``path`` as seen by a rule listening to ``types``.

    ``None`` means the rule cannot use that fact. A ``data.<field>`` is known when at least one
    of the types declares it (kinds that disagree across types degrade to ``any``) or when one
    of the types has free-form data.
    """
    static = STATIC_FACTS.get(path)
    if static is not None:
        return static
    streak = _streak_fact(path)
    if streak is not None:
        return streak
    head, _, rest = path.partition(".")
    if not rest:
        return None
    segments = rest.split(".")
    if not _segments_ok(segments):
        return None
    if head == "attributes":
        return FactSpec(path, FactKind.ANY, ATTRIBUTES_FACT.description, nullable=True)
    if head != "data":
        return None
    type_list = list(types)
    if len(segments) == 1:
        declared = [
            spec
            for t in type_list
            if (spec := EVENT_DATA_FIELDS.get(t, {}).get(segments[0])) is not None
        ]
        kinds = {spec.kind for spec in declared}
        if len(kinds) == 1:
            first = declared[0]
            # Optional in any type, or missing in another listened type, means it can be absent.
            nullable = any(s.nullable for s in declared) or len(declared) < len(type_list)
            return FactSpec(path, first.kind, first.description, nullable=nullable)
        if kinds:
            return FactSpec(path, FactKind.ANY, "Event data field (kind varies by type).", True)
    if any(t in FREE_FORM_DATA_TYPES for t in type_list):
        return FactSpec(path, FactKind.ANY, FREE_FORM_DATA_FACT.description, nullable=True)
    return None


def fact_catalogue(types: Iterable[str] | None = None) -> list[FactSpec]:
    """List the facts available to a rule on ``types`` (all types when ``None``).

    Meant for an API endpoint or a rule editor; placeholders such as ``attributes.<name>``
    stand for families of facts.
    """
    type_list = list(EVENT_TYPES if types is None else types)
    out = [*STATIC_FACTS.values(), *STREAK_FACTS]
    seen: set[str] = set()
    for t in type_list:
        for name in EVENT_DATA_FIELDS.get(t, {}):
            if name not in seen:
                seen.add(name)
                spec = resolve_fact(f"data.{name}", type_list)
                if spec is not None:
                    out.append(spec)
    if any(t in FREE_FORM_DATA_TYPES for t in type_list):
        out.append(FREE_FORM_DATA_FACT)
    out.append(ATTRIBUTES_FACT)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFacts:
    """What the evaluator knows about the event being scored (keyword arguments only, so a
    misordered call fails loudly instead of swapping fields).

    ``data`` numbers may be ``Decimal``, ``int`` or ``float``; floats are read through their
    shortest decimal representation so ``49.99`` compares equal to a rule's ``49.99``.
    ``occurred_at`` should be timezone-aware; a naive value is taken to be UTC.
    """

    type: str
    channel: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    occurred_at: datetime
    referred: bool = False
    # Streak id -> the customer's current streak once this event is counted.
    streaks: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """The customer's state just before the event, as the database layer computed it."""

    purchase_count: int = 0
    lifetime_spend: Decimal = Decimal(0)
    days_since_last_purchase: int | None = None
    tier: str | None = None
    badges: frozenset[str] = frozenset()
    available_points: int = 0
    signup_date: date | None = None
    referral_count: int = 0
    recency_days: int | None = None
    frequency: int = 0
    monetary: Decimal | None = None
    rfm_score: str | None = None
    probability_alive: float | None = None
    predicted_clv: float | None = None
    last_nps: int | None = None
    last_csat: int | None = None
    segments: frozenset[str] = frozenset()
    # Streak id -> (current, best) before the event.
    streaks: Mapping[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleUsage:
    """How much of its limits one rule has used.

    ``fired_in_period`` counts firings for this customer within the period of the rule's
    ``per_customer`` limit that contains the event (see ``engine.period_key``);
    ``points_issued`` is the rule's all-time total across all customers, for its budget.
    """

    fired_in_period: int = 0
    points_issued: int = 0


_NO_USAGE: Final[RuleUsage] = RuleUsage()


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """Limit usage per rule id; a rule that is not listed has used nothing."""

    rules: Mapping[str, RuleUsage] = field(default_factory=dict)

    def get(self, rule_id: str) -> RuleUsage:
        return self.rules.get(rule_id, _NO_USAGE)


NO_USAGE: Final[LimitUsage] = LimitUsage(MappingProxyType({}))


def describe_facts() -> str:
    """The fact catalogue as a Markdown list, for the OpenAPI document and README.md."""
    lines = [
        f"- `{s.path}` ({s.kind.value}): {s.description}"
        for s in (*STATIC_FACTS.values(), *STREAK_FACTS)
    ]
    for event_type, fields in EVENT_DATA_FIELDS.items():
        for spec in fields.values():
            optional = ", optional" if spec.nullable else ""
            lines.append(
                f"- `{spec.path}` ({spec.kind.value}, {event_type}{optional}): {spec.description}"
            )
    lines.append(f"- `{FREE_FORM_DATA_FACT.path}` (any): {FREE_FORM_DATA_FACT.description}")
    lines.append(f"- `{ATTRIBUTES_FACT.path}` (any): {ATTRIBUTES_FACT.description}")
    return "\n".join(lines)
