"""Load the demo: the starter programme, then new synthetic customers through the pipeline.

Events go through the same ingest pipeline as ``POST /v1/events``, so the demo data has
ledgers, badges, tiers and a ruleset version like real data. Running it again stores rules
only when they differ, and adds only the customers beyond those already loaded.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import TypeAdapter
from sqlalchemy import select

from app.database import Database
from app.demo import lab, shop
from app.demo.history import DEMO_PREFIX, synthetic_events
from app.events import pipeline
from app.events.schemas import AnyEvent, EventIn
from app.gamification import challenge_service as challenges
from app.gamification import service as leaderboards
from app.ledger.policy import PointsPolicy
from app.models import Challenge, Customer, Leaderboard, Rule
from app.rules import service, streak_service
from app.rules.starter import (
    starter_challenges,
    starter_leaderboards,
    starter_rules,
    starter_streaks,
    starter_tiers,
)

_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)
_CHUNK = 1000


@dataclass
class DemoSummary:
    rules_stored: int
    rules_unchanged: int
    ruleset_version: int
    customers_before: int
    customers_added: int
    events_processed: int = 0
    events_refused: int = 0
    claims: int = 0
    # Why the predictive fit was not stored, when it was not.
    fit_refused: str | None = None


async def load_starter(database: Database, history_end: datetime) -> tuple[int, int, int]:
    """Store the starter streaks, leaderboards, challenges, rules and tier ladder, and the
    demo's experiment; answers (starter rules stored, unchanged, ruleset version)."""
    stored = unchanged = 0
    async with database.sessionmaker() as session, session.begin():
        # Streaks first: the rules read their facts.
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
        await lab.load_experiment(session, history_end)
        version = await service.current_version(session)
    return stored, unchanged, version


async def _loaded(database: Database) -> int:
    """How many demo customers there are: the highest number among their ids."""
    async with database.read_sessionmaker() as session:
        ids = await session.scalars(select(Customer.id).where(Customer.id.like(f"{DEMO_PREFIX}c%")))
        numbers = [int(i.removeprefix(f"{DEMO_PREFIX}c")) for i in ids if i[6:].isdigit()]
    return max(numbers, default=0)


# What shows the events going in: ``app.console.progress`` on a terminal.
Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


@contextmanager
def _quietly(total: int, what: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def _anchor() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def load_demo(
    database: Database,
    policy: PointsPolicy,
    *,
    customers: int = 500,
    progress: Progress = _quietly,
) -> DemoSummary:
    anchor = _anchor()
    stored, unchanged, version = await load_starter(database, anchor)
    before = await _loaded(database)
    summary = DemoSummary(stored, unchanged, version, before, max(customers - before, 0))
    if customers <= before:
        return summary
    rewards = await shop.load_catalog(database)
    bodies = synthetic_events(anchor, before + 1, customers)
    with progress(len(bodies), "demo events") as advance:
        for offset in range(0, len(bodies), _CHUNK):
            chunk = await shop.with_codes(database, bodies[offset : offset + _CHUNK])
            items = [pipeline.Item.of(_event_adapter.validate_python(body)) for body in chunk]
            for answer in await pipeline.run(database.engine, items, policy):
                if answer.error is not None:
                    summary.events_refused += 1
                elif answer.status == 201:
                    summary.events_processed += 1
            advance(min(_CHUNK, len(bodies) - offset))
    summary.claims = await shop.claim_rewards(database, rewards, before + 1, customers)
    summary.fit_refused = await lab.store_fit(database, anchor)
    return summary
