"""Delivery: lease due messages, send them signed, record what came back.

Run by ``reinforce worker`` (any number of them on PostgreSQL) or inside
``reinforce serve`` when ``REINFORCE_WEBHOOK_WORKER_IN_PROCESS`` is set.

A worker claims a batch with ``SELECT ... FOR UPDATE SKIP LOCKED``, stamps a lease
(``locked_until``, ``lease_id``) and commits before sending anything, so no transaction
stays open across the network and concurrent workers never pick the same rows. If a
worker dies mid-batch its lease lapses and another worker sends the messages again: that
is why delivery is at-least-once and receivers de-duplicate on ``webhook-id``. SQLite
ignores ``FOR UPDATE`` but serialises the claim transactions with its write lock; one
worker is all an embedded deployment needs.
"""

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import __version__
from app.config import Settings
from app.database import Database
from app.models import MessageStatus, WebhookAttempt, WebhookMessage, WebhookSubscription
from app.models.base import utcnow
from app.webhooks import signing, targets

logger = logging.getLogger(__name__)

SENT = Counter(
    "reinforce_webhook_messages_sent", "Messages delivered with a 2xx answer.", ["event_type"]
)
FAILED = Counter(
    "reinforce_webhook_messages_failed",
    "Messages given up: retries exhausted, endpoint gone (410) or payload too large.",
    ["event_type"],
)
RETRIED = Counter(
    "reinforce_webhook_messages_retried",
    "Failed attempts scheduled for another try.",
    ["event_type"],
)
QUEUE_DEPTH = Gauge(
    "reinforce_webhook_queue_depth",
    "Messages waiting for delivery to enabled subscriptions, due or scheduled for a retry; "
    "measured by the worker after each round.",
)

# A server's Retry-After is followed up to this; beyond it, the schedule's own delay.
MAX_RETRY_AFTER_SECONDS = 24 * 3600
PURGE_EVERY_SECONDS = 3600
_jitter = random.SystemRandom()


@dataclass(frozen=True)
class Job:
    row_id: int
    message_id: str
    event_type: str
    payload: dict[str, object]
    attempts: int
    lease_id: str
    subscription_id: uuid.UUID
    url: str
    secrets: list[str]


@dataclass(frozen=True)
class Result:
    job: Job
    status: int | None
    latency_ms: int | None
    error: str | None
    retry_after: float | None = None
    permanent: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _live_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    live = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        live.append(subscription.previous_secret)
    return live


async def claim(database: Database, settings: Settings) -> list[Job]:
    """Lease up to a batch of due messages and commit the lease."""
    now = utcnow()
    lease_id = uuid.uuid4().hex
    async with database.sessionmaker() as session, session.begin():
        due = (
            select(WebhookMessage.id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookMessage.subscription_id)
            .where(
                WebhookMessage.status == MessageStatus.pending.value,
                WebhookMessage.next_attempt_at <= now,
                or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until <= now),
                WebhookSubscription.enabled.is_(True),
            )
            .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
            .limit(settings.webhook_batch_size)
            .with_for_update(skip_locked=True, of=WebhookMessage)
        )
        ids = list(await session.scalars(due))
        if not ids:
            return []
        await session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_(ids))
            .values(
                locked_until=now + timedelta(seconds=settings.webhook_lease_seconds),
                lease_id=lease_id,
            )
            .execution_options(synchronize_session=False)
        )
        rows = (
            await session.execute(
                select(WebhookMessage, WebhookSubscription)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookMessage.subscription_id)
                .where(WebhookMessage.id.in_(ids))
                .order_by(WebhookMessage.id)
            )
        ).all()
        return [
            Job(
                row_id=message.id,
                message_id=message.message_id,
                event_type=message.event_type,
                payload=message.payload,
                attempts=message.attempts,
                lease_id=lease_id,
                subscription_id=subscription.id,
                url=subscription.url,
                secrets=_live_secrets(subscription, now),
            )
            for message, subscription in rows
        ]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - utcnow()).total_seconds(), 0.0)


async def resolve(url: str, settings: Settings) -> targets.Pinned | str:
    """Where to send for ``url`` now, or why not: DNS may have changed since it was saved."""
    try:
        address = await targets.check(url, targets.networks(settings.webhook_allowed_networks))
    except targets.RefusedTarget as exc:
        return f"refused: {exc}"
    return targets.pin(url, address)


async def send(
    client: httpx.AsyncClient, job: Job, settings: Settings, target: targets.Pinned | str
) -> Result:
    """One signed POST; never raises for anything the receiver or the network does."""
    body = json.dumps(job.payload, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > settings.webhook_max_payload_bytes:
        return Result(job, None, None, f"payload of {len(body)} bytes is too large", permanent=True)
    if isinstance(target, str):
        return Result(job, None, None, target)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": f"reinforce-webhooks/{__version__}",
        "webhook-id": job.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(job.secrets, job.message_id, timestamp, body),
    }
    started = time.perf_counter()
    status: int | None = None
    try:
        # One deadline for the whole attempt: httpx's own time-outs are per operation.
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            async with client.stream(
                "POST",
                target.url,
                content=body,
                headers=headers | target.headers,
                extensions=target.extensions,
            ) as response:
                status = response.status_code
                snippet = b""
                async for chunk in response.aiter_bytes():
                    snippet += chunk
                    if len(snippet) >= settings.webhook_max_response_bytes:
                        break
                retry_after = _retry_after(response.headers.get("retry-after"))
    except TimeoutError:
        return Result(job, status, _elapsed(started), "timed out")
    except httpx.HTTPError as exc:
        return Result(job, status, _elapsed(started), f"{type(exc).__name__}: {exc}"[:500])
    latency = _elapsed(started)
    if 200 <= status < 300:
        return Result(job, status, latency, None)
    text = snippet[:200].decode("utf-8", "replace")
    return Result(
        job,
        status,
        latency,
        f"HTTP {status}: {text}"[:500],
        retry_after=retry_after if status in (429, 503) else None,
        permanent=status == 410,
    )


def _elapsed(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def next_delay(settings: Settings, attempts_made: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is exhausted."""
    schedule = settings.webhook_retry_schedule_seconds
    if attempts_made > len(schedule):
        return None
    if retry_after is not None and retry_after <= MAX_RETRY_AFTER_SECONDS:
        return retry_after
    # +-20 % so that endpoints recovering from an outage are not hit by a synchronized wave.
    return schedule[attempts_made - 1] * _jitter.uniform(0.8, 1.2)


async def record(database: Database, settings: Settings, results: Sequence[Result]) -> None:
    now = utcnow()
    counted: list[tuple[Counter, str]] = []
    async with database.sessionmaker() as session, session.begin():
        for result in results:
            try:
                # A savepoint each: a subscription deleted meanwhile (its rows cascade
                # away) must not lose the record of the rest of the batch.
                async with session.begin_nested():
                    counter = await _record_one(session, settings, result, now)
            except IntegrityError:
                logger.info("webhook message vanished while being sent")
                continue
            if counter is not None:
                counted.append((counter, result.job.event_type))
    for counter, event_type in counted:
        counter.labels(event_type).inc()


async def _record_one(
    session: AsyncSession, settings: Settings, result: Result, now: datetime
) -> Counter | None:
    """Record one attempt; answers the counter it adds to, if the row was still ours."""
    job = result.job
    attempt = job.attempts + 1
    values: dict[str, object] = {
        "attempts": attempt,
        "locked_until": None,
        "lease_id": None,
        "last_error": result.error,
    }
    delay = None
    if result.succeeded:
        values |= {"status": MessageStatus.delivered.value, "finished_at": now}
    else:
        if not result.permanent:
            delay = next_delay(settings, attempt, result.retry_after)
        if delay is None:
            values |= {"status": MessageStatus.failed.value, "finished_at": now}
        else:
            values["next_attempt_at"] = now + timedelta(seconds=delay)
    changed = await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == job.row_id, WebhookMessage.lease_id == job.lease_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # The attempt happened either way, so it is recorded either way.
    session.add(
        WebhookAttempt(
            message_row_id=job.row_id,
            subscription_id=job.subscription_id,
            message_id=job.message_id,
            attempt=attempt,
            succeeded=result.succeeded,
            response_status=result.status,
            latency_ms=result.latency_ms,
            error=result.error,
            attempted_at=now,
        )
    )
    await session.flush()
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        # The lease lapsed and another worker owns the row now; it decides.
        return None
    if result.status == 410:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == job.subscription_id)
            .values(enabled=False, disabled_reason="the endpoint answered 410 Gone", updated_at=now)
        )
    if result.succeeded:
        return SENT
    return FAILED if delay is None else RETRIED


def make_client(settings: Settings) -> httpx.AsyncClient:
    # No redirects: a 3xx is a failed attempt, never a way to reach an unchecked host.
    # No environment proxies: the address check must be about the host actually reached.
    # No kept-alive connections: requests go to pinned addresses, and a pool keyed by
    # address could send one host's message over a TLS session opened for another name.
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=settings.webhook_timeout_seconds,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def deliver_due(database: Database, settings: Settings, client: httpx.AsyncClient) -> int:
    """Send one batch of due messages; answers how many were attempted."""
    jobs = await claim(database, settings)
    if jobs:
        resolved = {url: await resolve(url, settings) for url in {job.url for job in jobs}}
        results = await asyncio.gather(
            *(send(client, job, settings, resolved[job.url]) for job in jobs)
        )
        await record(database, settings, results)
    QUEUE_DEPTH.set(await queue_depth(database))
    return len(jobs)


async def queue_depth(database: Database) -> int:
    """Messages still to be delivered to subscriptions that are enabled."""
    async with database.read_sessionmaker() as session:
        depth = await session.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookMessage.subscription_id)
            .where(
                WebhookMessage.status == MessageStatus.pending.value,
                WebhookSubscription.enabled.is_(True),
            )
        )
    return int(depth or 0)


async def purge(database: Database, settings: Settings) -> int:
    """Delete finished messages (and their attempts) past the retention period."""
    cutoff = utcnow() - timedelta(days=settings.webhook_retention_days)
    async with database.sessionmaker() as session, session.begin():
        result = await session.execute(
            delete(WebhookMessage).where(
                WebhookMessage.status != MessageStatus.pending.value,
                WebhookMessage.finished_at < cutoff,
            )
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def run(database: Database, settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Deliver until ``stop`` is set (or the task is cancelled)."""
    stop = stop or asyncio.Event()
    last_purge = 0.0
    async with make_client(settings) as client:
        while not stop.is_set():
            attempted = 0
            try:
                if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                    last_purge = time.monotonic()
                    await purge(database, settings)
                attempted = await deliver_due(database, settings, client)
            except Exception:  # a failed round is retried at the next one, never fatal
                logger.exception("webhook delivery round failed")
            if attempted == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), settings.webhook_poll_interval_seconds)
