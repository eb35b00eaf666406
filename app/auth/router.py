import uuid

from fastapi import APIRouter, Request, status

from app.auth import service
from app.auth.dependencies import AdminPrincipal
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.database import ReadSession, Session
from app.errors import problem_responses

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])


@router.get("", response_model=list[ApiKeyRead], responses=problem_responses(401, 403))
async def list_api_keys(_: AdminPrincipal, session: ReadSession) -> list[ApiKeyRead]:
    """All API keys, revoked ones included. Secrets are never shown again."""
    return [ApiKeyRead.model_validate(k) for k in await service.list_keys(session)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=problem_responses(401, 403, 422),
)
async def create_api_key(body: ApiKeyCreate, _: AdminPrincipal, session: Session) -> ApiKeyCreated:
    """Issue a key. The secret is in this response only."""
    key, secret = await service.create_key(session, name=body.name, scopes=body.scopes)
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "key": secret}
    )


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_api_key(
    key_id: uuid.UUID, _: AdminPrincipal, session: Session, request: Request
) -> None:
    """Revoke a key; the record stays for audit. It stops working at once on the worker
    that revoked it, and within `REINFORCE_API_KEY_CACHE_SECONDS` (5 s) on the others."""
    await service.revoke_key(session, key_id)
    request.app.state.key_cache.forget(key_id)
