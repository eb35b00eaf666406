"""The ingest pipeline: a unit of events through claim → load → reduce → write → commit.

Single posts (gathered by ``app.events.committer``), batches, the demo and the import all
come through ``run``. A unit is one transaction:

1. **claim**: one read of the unit's ids that are already stored. A stored id with the same
   body is replayed from its stored answer and costs no evaluation; another body is a 409.
   An id seen earlier in the same unit is answered the same way, once the first is applied.
2. **load** (``load.state``): the customers (locked in id order on PostgreSQL), their
   balances, badges, perks, limit usage and open lots where the rules need them, the orders
   that purchases and refunds name, the referrals; the targeting facts and segments the
   rules read, the running experiments with the unit's exposures and audiences. A handful
   of set-based reads.
3. **reduce** (``app.rules.state.reduce``): for each event in order, the exposure to the
   running experiments, the compiled rules (an experiment's treatments for its variant
   only) and the state transition, with no I/O. A refused event changes nothing and fails
   alone.
4. **write** (``writer.write``): the unit's changes as set-based statements.
5. **commit**, then every event of the unit is answered.

The primary keys arbitrate between workers: when a claim comes back short at write time
(another worker committed the same event id, order or new customer meanwhile), or
PostgreSQL breaks a deadlock, the transaction is rolled back and the unit runs again; the
retry reads what the other worker wrote. An unexpected exception while reducing one event
fails that event alone (``internal-error``) and the unit runs again without it. One during
the write splits the unit into single events, so that only the culprit fails.
"""

import logging
from collections import Counter as TallyCounter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.database import driver_errors
from app.errors import Conflict, ProblemError
from app.events import counters, load, writer
from app.idempotency import body_hash
from app.ledger.policy import PointsPolicy
from app.models.base import utcnow
from app.rules import service as rules
from app.rules.effects import Judge
from app.rules.state import reduce
from app.webhooks.outbox import ALL_WEBHOOK_TYPES

logger = logging.getLogger(__name__)

# Rounds of a unit whose claims lost to concurrent transactions; each retry sees what they
# committed, so a second round is almost always the last.
_ATTEMPTS = 5
# PostgreSQL's deadlock_detected and serialization_failure: the transaction can simply run
# again.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})


class EventIdConflict(Conflict):
    slug = "event-id-conflict"
    title = "Event id reused with a different body"

    def __init__(self, event_id: str) -> None:
        super().__init__(
            f"Event {event_id!r} was already processed with a different body. "
            "Use a new id for a new event.",
            extra={"event_id": event_id},
        )


class InternalError(ProblemError):
    status, slug = 500, "internal-error"

    def __init__(self) -> None:
        super().__init__("An unexpected error occurred. Quote the request id when reporting it.")


@dataclass(slots=True)
class Item:
    """One validated event of a unit, with its body as stored (``data`` in JSON form)."""

    event: Any
    digest: str
    data: dict[str, Any]
    explain: bool = False

    @classmethod
    def of(cls, event: Any, *, explain: bool = False) -> "Item":
        body = event.model_dump(mode="json")
        return cls(event, body_hash(body), body["data"], explain)


@dataclass(slots=True)
class Answer:
    """An event's outcome: 201 with its answer, 200 replayed, or a problem's status.

    ``error`` is the refusal (a ``ProblemError``) or, for a unit the database failed, the
    exception itself, for the caller to answer as it answers any database error.
    """

    status: int
    body: dict[str, Any] | None = None
    error: BaseException | None = None


def _row(item: Item, answer: dict[str, Any], version: int, now: datetime) -> dict[str, Any]:
    event = item.event
    data = event.data
    row = {
        "id": event.id,
        "type": event.type.value,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "channel": event.channel,
        "data": item.data,
        "attributes": event.attributes,
        "body_hash": item.digest,
        "ruleset_version": version,
        "response": answer,
    }
    for name in ("order_id", "amount", "currency", "referred_customer_id", "survey", "score"):
        row[name] = getattr(data, name, None)
    return row


class _Poisoned(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


async def _unit(
    conn: AsyncConnection,
    items: Sequence[Item],
    failed: dict[int, Answer],
    policy: PointsPolicy,
    *,
    write: bool,
) -> list[Answer]:
    now = utcnow()
    ruleset = await rules.active_ruleset(conn)
    stored = await load.stored_events(conn, list({i.event.id for i in items}))
    answers: list[Answer | None] = [failed.get(index) for index in range(len(items))]
    fresh = [
        index
        for index, item in enumerate(items)
        if answers[index] is None and item.event.id not in stored
    ]
    for index, item in enumerate(items):
        if answers[index] is None and item.event.id in stored:
            answers[index] = _repeat(item, *stored[item.event.id])
    unit = await load.state(
        conn, ruleset, [items[i].event for i in fresh], now, policy.frequency_days
    )
    targets = await load.subscriptions(conn)
    judge = Judge(ruleset, policy, _wanted(targets))
    accepted: dict[str, tuple[str, dict[str, Any]]] = {}
    conflicts: list[int] = []
    for index in fresh:
        item = items[index]
        earlier = accepted.get(item.event.id)
        if earlier is not None:
            answers[index] = _repeat(item, *earlier)
            continue
        try:
            reduced = reduce(judge, unit, item.event, explain=item.explain)
        except ProblemError as refusal:
            answers[index] = Answer(refusal.status, error=refusal)
            if isinstance(refusal, Conflict):
                conflicts.append(index)
            continue
        except Exception as exc:
            logger.exception("event failed in the reducer", extra={"event_id": item.event.id})
            raise _Poisoned(index) from exc
        for error in reduced.errors:
            logger.warning(
                "rule failed while evaluating an event",
                extra={"rule_id": error.rule_id, "event_id": item.event.id, "error": error.message},
            )
        for source, applied in reduced.derived:
            derived = Item.of(source)
            unit.events.append(_row(derived, applied.answer, ruleset.version, now))
            accepted[source.id] = (derived.digest, applied.answer)
        unit.events.append(_row(item, reduced.answer, ruleset.version, now))
        accepted[item.event.id] = (item.digest, reduced.answer)
        body = reduced.answer
        if reduced.explain is not None:
            body = {**body, "explain": reduced.explain}
        answers[index] = Answer(201, body)
    if conflicts:
        # A refusal for a row that exists (its order, its referral) may be this very
        # event, committed by another worker after the ids were read: then it is a replay.
        late = await load.stored_events(conn, [items[i].event.id for i in conflicts])
        for index in conflicts:
            if (stored_now := late.get(items[index].event.id)) is not None:
                answers[index] = _repeat(items[index], *stored_now)
    if write:
        await writer.write(conn, unit, targets)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _repeat(item: Item, digest: str, response: dict[str, Any]) -> Answer:
    """An id already processed: its answer replayed for the same body, else a conflict."""
    if digest == item.digest:
        return Answer(200, response)
    return Answer(409, error=EventIdConflict(item.event.id))


def _wanted(targets: load.Subscriptions) -> frozenset[str]:
    """The webhook types anyone subscribes to (an empty list subscribes to all)."""
    if any(not types for _, types in targets):
        return ALL_WEBHOOK_TYPES
    return frozenset(t for _, types in targets for t in types)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, writer.UnitConflict):
        return True
    return any(getattr(e, "sqlstate", None) in _RETRY_SQLSTATES for e in driver_errors(exc))


async def _attempt(
    engine: AsyncEngine, items: Sequence[Item], policy: PointsPolicy, *, write: bool
) -> list[Answer]:
    """The unit in one transaction, run again while concurrent claims win or an event
    poisons the reducer (that event then fails alone)."""
    failed: dict[int, Answer] = {}
    attempt = 0
    while True:
        attempt += 1
        try:
            async with engine.connect() as conn:
                transaction = await conn.begin()
                try:
                    answers = await _unit(conn, items, failed, policy, write=write)
                except BaseException:
                    await transaction.rollback()
                    raise
                if write:
                    await transaction.commit()
                else:
                    await transaction.rollback()
                return answers
        except _Poisoned as poisoned:
            failed[poisoned.index] = Answer(500, error=InternalError())
        except Exception as exc:
            if attempt >= _ATTEMPTS or not _retryable(exc):
                raise
            logger.info("unit lost a claim to a concurrent transaction; running it again")


async def run(
    engine: AsyncEngine, items: Sequence[Item], policy: PointsPolicy, *, write: bool = True
) -> list[Answer]:
    """Process ``items`` as one unit; answers each, in order. ``write=False`` is a dry run:
    the same pipeline, rolled back before the writer would run."""
    if not items:
        return []
    started = perf_counter()
    answers = await _run(engine, items, policy, write=write)
    if write:
        counters.count(
            [item.event.type.value for item in items],
            [answer.status for answer in answers],
            _points(answers),
            perf_counter() - started,
        )
    return answers


def _points(answers: Sequence[Answer]) -> TallyCounter[str]:
    moved: TallyCounter[str] = TallyCounter()
    for answer in answers:
        if answer.status != 201 or answer.body is None:
            continue
        for effect in answer.body["effects"]:
            if effect["points"]:
                moved["reverse" if effect["action"] == "reverse_points" else "earn"] += effect[
                    "points"
                ]
    return moved


async def _run(
    engine: AsyncEngine, items: Sequence[Item], policy: PointsPolicy, *, write: bool
) -> list[Answer]:
    try:
        return await _attempt(engine, items, policy, write=write)
    except Exception as exc:
        if len(items) == 1:
            return [_failure(exc)]
        logger.warning("unit failed; processing its events one by one", exc_info=True)
    answers: list[Answer] = []
    for item in items:
        try:
            answers.extend(await _attempt(engine, [item], policy, write=write))
        except Exception as exc:
            answers.append(_failure(exc))
    return answers


def _failure(exc: Exception) -> Answer:
    """A unit the database (or a bug) failed: the caller answers it as any such error (and
    logs it, with the request id of the request that waits for it)."""
    return Answer(500, error=exc)
