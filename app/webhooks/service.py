"""Subscriptions, their delivery history, and replays."""

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import Conflict, NotFound, Unprocessable
from app.models import MessageStatus, WebhookAttempt, WebhookMessage, WebhookSubscription
from app.models.base import utcnow
from app.webhooks import signing, targets
from app.webhooks.schemas import WebhookIn, WebhookPatch


class RefusedUrl(Unprocessable):
    slug = "webhook-url-refused"
    title = "Webhook URL refused"


class DeliveryInProgress(Conflict):
    slug = "webhook-delivery-in-progress"
    title = "The message is being delivered right now"


class SubscriptionDisabled(Conflict):
    slug = "webhook-disabled"
    title = "The subscription is disabled"


async def _check_url(url: str, settings: Settings) -> None:
    try:
        await targets.check(url, targets.networks(settings.webhook_allowed_networks))
    except targets.RefusedTarget as exc:
        raise RefusedUrl(f"{url} is refused: {exc}.", extra={"url": url}) from exc


async def create(session: AsyncSession, body: WebhookIn, settings: Settings) -> WebhookSubscription:
    url = str(body.url)
    await _check_url(url, settings)
    now = utcnow()
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        url=url,
        description=body.description,
        event_types=sorted({t.value for t in body.event_types}),
        enabled=body.enabled,
        secret=signing.new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def get(session: AsyncSession, subscription_id: uuid.UUID) -> WebhookSubscription:
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"Webhook {subscription_id} does not exist.")
    return subscription


async def list_all(session: AsyncSession) -> Sequence[WebhookSubscription]:
    result = await session.scalars(
        select(WebhookSubscription).order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return result.all()


async def update_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, patch: WebhookPatch, settings: Settings
) -> WebhookSubscription:
    subscription = await get(session, subscription_id)
    given = patch.model_fields_set
    if "url" in given and patch.url is not None:
        url = str(patch.url)
        await _check_url(url, settings)
        subscription.url = url
    if "event_types" in given and patch.event_types is not None:
        subscription.event_types = sorted({t.value for t in patch.event_types})
    if "enabled" in given and patch.enabled is not None:
        subscription.enabled = patch.enabled
        if patch.enabled:
            subscription.disabled_reason = None
    if "description" in given:
        subscription.description = patch.description
    subscription.updated_at = utcnow()
    await session.flush()
    return subscription


async def delete(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    subscription = await get(session, subscription_id)
    await session.delete(subscription)


async def rotate_secret(
    session: AsyncSession, subscription_id: uuid.UUID, settings: Settings
) -> WebhookSubscription:
    """A new secret; the current one keeps signing for the grace period."""
    subscription = await get(session, subscription_id)
    now = utcnow()
    grace = settings.webhook_secret_rotation_grace_seconds
    subscription.previous_secret = subscription.secret if grace else None
    subscription.previous_secret_expires_at = now + timedelta(seconds=grace) if grace else None
    subscription.secret = signing.new_secret()
    subscription.updated_at = now
    await session.flush()
    return subscription


async def attempts_page(
    session: AsyncSession, subscription_id: uuid.UUID, *, before_id: int | None, limit: int
) -> list[WebhookAttempt]:
    await get(session, subscription_id)
    statement = select(WebhookAttempt).where(WebhookAttempt.subscription_id == subscription_id)
    if before_id is not None:
        statement = statement.where(WebhookAttempt.id < before_id)
    result = await session.scalars(statement.order_by(WebhookAttempt.id.desc()).limit(limit))
    return list(result)


async def messages_page(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    status: MessageStatus | None,
    before_id: int | None,
    limit: int,
) -> list[WebhookMessage]:
    await get(session, subscription_id)
    statement = select(WebhookMessage).where(WebhookMessage.subscription_id == subscription_id)
    if status is not None:
        statement = statement.where(WebhookMessage.status == status.value)
    if before_id is not None:
        statement = statement.where(WebhookMessage.id < before_id)
    result = await session.scalars(statement.order_by(WebhookMessage.id.desc()).limit(limit))
    return list(result)


async def retry(
    session: AsyncSession, subscription_id: uuid.UUID, message_id: str
) -> WebhookMessage:
    """Queue a message again with a fresh retry schedule, whatever became of it."""
    subscription = await get(session, subscription_id)
    if not subscription.enabled:
        raise SubscriptionDisabled(
            f"Webhook {subscription_id} is disabled; enable it before replaying messages."
        )
    now = utcnow()
    message = await session.scalar(
        select(WebhookMessage).where(
            WebhookMessage.subscription_id == subscription_id,
            WebhookMessage.message_id == message_id,
        )
    )
    if message is None:
        raise NotFound(f"Message {message_id!r} was not sent to webhook {subscription_id}.")
    # Atomic so that a worker holding a lease on the row is never overtaken.
    requeued = await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message.id)
        .where((WebhookMessage.locked_until.is_(None)) | (WebhookMessage.locked_until <= now))
        .values(
            status=MessageStatus.pending.value,
            attempts=0,
            next_attempt_at=now,
            locked_until=None,
            lease_id=None,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if requeued.rowcount == 0:  # type: ignore[attr-defined]
        raise DeliveryInProgress(
            f"Message {message_id!r} is being delivered; look at its attempts shortly."
        )
    await session.refresh(message)
    return message
