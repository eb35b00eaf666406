import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.config import Settings
from app.database import ReadSession, Session
from app.errors import InvalidCursor, problem_responses
from app.models import MessageStatus
from app.schemas import (
    CURSOR_DESCRIPTION,
    CURSOR_PATTERN,
    MAX_PAGE_SIZE,
    Page,
    decode_cursor,
    encode_cursor,
)
from app.webhooks import service
from app.webhooks.schemas import (
    AttemptOut,
    MessageOut,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
    WebhookWithSecret,
)

router = APIRouter(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(RequireScope(Scope.webhooks_write))],
)

WebhookId = Annotated[uuid.UUID, Path(description="The subscription's id.")]
Cursor = Annotated[
    str | None, Query(max_length=100, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    before = decode_cursor(cursor)
    if before is None:
        raise InvalidCursor("The cursor is not one this API issued.")
    return before


def _with_secret(subscription: object, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate(
        {**WebhookOut.model_validate(subscription).model_dump(), "secret": secret}
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecret,
    responses=problem_responses(401, 403, 422),
)
async def create_webhook(
    body: WebhookIn, session: Session, settings: SettingsDep
) -> WebhookWithSecret:
    """Subscribe a URL to some event types (or all). The signing secret is shown only here."""
    subscription = await service.create(session, body, settings)
    return _with_secret(subscription, subscription.secret)


@router.get("", response_model=WebhookList, responses=problem_responses(401, 403))
async def list_webhooks(session: ReadSession) -> WebhookList:
    """Every subscription, oldest first. Secrets are never shown again."""
    return WebhookList(
        items=[WebhookOut.model_validate(s) for s in await service.list_all(session)]
    )


@router.get(
    "/{webhook_id}", response_model=WebhookOut, responses=problem_responses(401, 403, 404, 422)
)
async def get_webhook(webhook_id: WebhookId, session: ReadSession) -> WebhookOut:
    return WebhookOut.model_validate(await service.get(session, webhook_id))


@router.patch(
    "/{webhook_id}", response_model=WebhookOut, responses=problem_responses(401, 403, 404, 422)
)
async def update_webhook(
    webhook_id: WebhookId, body: WebhookPatch, session: Session, settings: SettingsDep
) -> WebhookOut:
    """Change the URL, the event types or the enabled flag. Enabling resumes delivery."""
    subscription = await service.update_subscription(session, webhook_id, body, settings)
    return WebhookOut.model_validate(subscription)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook(webhook_id: WebhookId, session: Session) -> None:
    """Delete the subscription with its undelivered messages and its delivery history."""
    await service.delete(session, webhook_id)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    responses=problem_responses(401, 403, 404, 422),
)
async def rotate_secret(
    webhook_id: WebhookId, session: Session, settings: SettingsDep
) -> WebhookWithSecret:
    """A new signing secret, shown only here. Until `previous_secret_expires_at`,
    deliveries carry signatures by both the old and the new secret."""
    subscription = await service.rotate_secret(session, webhook_id, settings)
    return _with_secret(subscription, subscription.secret)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[AttemptOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_deliveries(
    webhook_id: WebhookId, session: ReadSession, cursor: Cursor = None, limit: Limit = 50
) -> Page[AttemptOut]:
    """Delivery attempts, newest first: response status, latency and error of each."""
    attempts = await service.attempts_page(
        session, webhook_id, before_id=_before(cursor), limit=limit + 1
    )
    more = len(attempts) > limit
    attempts = attempts[:limit]
    return Page[AttemptOut](
        items=[AttemptOut.model_validate(a) for a in attempts],
        next_cursor=encode_cursor(attempts[-1].id) if more else None,
    )


@router.get(
    "/{webhook_id}/messages",
    response_model=Page[MessageOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_messages(
    webhook_id: WebhookId,
    session: ReadSession,
    status: Annotated[MessageStatus | None, Query(description="Only messages in it.")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[MessageOut]:
    """Messages queued for this subscription, newest first, with their state.

    Failed ones can be replayed with `POST .../deliveries/{message_id}/retry`.
    """
    messages = await service.messages_page(
        session, webhook_id, status=status, before_id=_before(cursor), limit=limit + 1
    )
    more = len(messages) > limit
    messages = messages[:limit]
    return Page[MessageOut](
        items=[MessageOut.model_validate(m) for m in messages],
        next_cursor=encode_cursor(messages[-1].id) if more else None,
    )


@router.post(
    "/{webhook_id}/deliveries/{message_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def retry_delivery(
    webhook_id: WebhookId,
    message_id: Annotated[str, Path(max_length=40, description="The `webhook-id`.")],
    session: Session,
) -> MessageOut:
    """Queue a message again, delivered or failed, with a fresh retry schedule."""
    return MessageOut.model_validate(await service.retry(session, webhook_id, message_id))
