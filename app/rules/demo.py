"""``reinforce demo``: the starter programme plus a few hundred synthetic customers.

Events go through the same ingest pipeline as ``POST /v1/events``, so the demo data has
ledgers, badges, tiers and a ruleset version like real data. Running it again changes
nothing: rules are stored only when they differ, and the events are generated only once.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select

from app.database import Database
from app.events import pipeline
from app.events.schemas import AnyEvent, EventIn
from app.gamification import challenge_service as challenges
from app.gamification import service as leaderboards
from app.ledger.policy import PointsPolicy
from app.models import Challenge, Event, Leaderboard, Rule
from app.rules import service, streak_service
from app.rules.starter import (
    starter_challenges,
    starter_leaderboards,
    starter_rules,
    starter_streaks,
    starter_tiers,
)

DEMO_PREFIX = "demo-"
_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)
_CHUNK = 1000


@dataclass
class DemoSummary:
    rules_stored: int
    rules_unchanged: int
    ruleset_version: int
    customers: int
    events_processed: int
    events_refused: int
    events_skipped: bool


async def load_starter(database: Database) -> tuple[int, int, int]:
    """Store the starter streaks, rules and tier ladder; answers (rules stored, unchanged,
    ruleset version)."""
    stored = unchanged = 0
    async with database.sessionmaker() as session, session.begin():
        for streak_id, streak in starter_streaks():
            await streak_service.put(session, streak_id, streak)
        for board in starter_leaderboards():
            if await session.get(Leaderboard, board.id) is None:
                await leaderboards.create(session, board)
        for challenge in starter_challenges():
            if await session.get(Challenge, challenge.id) is None:
                await challenges.create(session, challenge)
        for rule_id, document in starter_rules():
            existing = await session.get(Rule, rule_id)
            if existing is None:
                await service.create_rule(session, rule_id, document)
                stored += 1
                continue
            before = existing.current_version
            if existing.deleted_at is None:
                after = await service.replace_rule(session, rule_id, document)
                if after.current_version != before:
                    stored += 1
                    continue
            unchanged += 1
        await service.replace_tiers(session, starter_tiers())
        version = await service.current_version(session)
    return stored, unchanged, version


def synthetic_events(anchor: datetime, customers: int = 200, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic behaviour of ``customers`` shoppers over the 180 days before ``anchor``."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    bodies: list[dict[str, Any]] = []

    def add(type_: str, customer: str, at: datetime, **data: Any) -> None:
        bodies.append(
            {
                "type": type_,
                "customer_id": customer,
                "occurred_at": at.isoformat(),
                "channel": rng.choice(["web", "app", "store"]),
                "data": data,
            }
        )

    start = anchor - timedelta(days=180)
    orders = 0
    for i in range(1, customers + 1):
        customer = f"{DEMO_PREFIX}c{i:03d}"
        signup = start + timedelta(minutes=rng.randrange(0, 150 * 24 * 60))
        referrer = (
            f"{DEMO_PREFIX}c{rng.randrange(1, i):03d}" if i > 1 and rng.random() < 0.25 else None
        )
        if referrer is not None:
            add("referral", referrer, signup - timedelta(hours=1), referred_customer_id=customer)
            add("signup", customer, signup, referred_by=referrer)
        else:
            add("signup", customer, signup)
        if rng.random() < 0.5:
            add("subscription", customer, signup + timedelta(minutes=5), list="newsletter")
        at = signup
        for _ in range(rng.choice([0, 1, 1, 2, 3, 4, 6, 8, 11])):
            at += timedelta(days=rng.uniform(1, 20), minutes=rng.randrange(0, 600))
            if at >= anchor:
                break
            orders += 1
            amount = f"{rng.uniform(10, 400):.2f}"
            add(
                "purchase",
                customer,
                at,
                order_id=f"{DEMO_PREFIX}o{orders:05d}",
                amount=amount,
                currency="EUR",
            )
            if rng.random() < 0.3:
                add("review", customer, at + timedelta(days=2), rating=rng.randint(1, 5))
            if rng.random() < 0.15:
                add(
                    "social_engagement",
                    customer,
                    at + timedelta(hours=3),
                    network="instagram",
                    action="share",
                )
        if rng.random() < 0.6:
            score = rng.choice([2, 5, 6, 7, 8, 9, 9, 10, 10])
            add("feedback", customer, signup + timedelta(days=30), survey="nps", score=score)
        if rng.random() < 0.2:
            add("renewal", customer, signup + timedelta(days=60), subscription_id=f"{customer}-sub")
        if rng.random() < 0.1:
            add("upgrade", customer, signup + timedelta(days=90), plan="premium")
    kept = [b for b in bodies if datetime.fromisoformat(b["occurred_at"]) < anchor]
    kept.sort(key=lambda b: (b["occurred_at"], b["customer_id"], b["type"]))
    for n, body in enumerate(kept, start=1):
        body["id"] = f"{DEMO_PREFIX}e{n:05d}"
    return kept


async def load_demo(
    database: Database, policy: PointsPolicy, *, customers: int = 200
) -> DemoSummary:
    stored, unchanged, version = await load_starter(database)
    async with database.sessionmaker() as session:
        done = await session.scalar(select(Event.id).where(Event.id == f"{DEMO_PREFIX}e00001"))
    if done is not None:
        return DemoSummary(stored, unchanged, version, customers, 0, 0, True)
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    bodies = synthetic_events(anchor, customers)
    processed = refused = 0
    for offset in range(0, len(bodies), _CHUNK):
        items = [
            pipeline.Item.of(_event_adapter.validate_python(body))
            for body in bodies[offset : offset + _CHUNK]
        ]
        for answer in await pipeline.run(database.engine, items, policy):
            if answer.error is not None:
                refused += 1
            elif answer.status == 201:
                processed += 1
    return DemoSummary(stored, unchanged, version, customers, processed, refused, False)
