"""API keys: issue, look up, revoke. Only a SHA-256 of each secret is ever stored."""

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Scope
from app.database import insert_for
from app.errors import NotFound
from app.models import ApiKey
from app.models.base import utcnow

KEY_PREFIX = "rk_"
_VISIBLE_CHARS = 10


def generate_key() -> str:
    # 32 random bytes: a plain SHA-256 is then a safe way to store it (no brute force to
    # slow down), and lookup by hash stays a single indexed query.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    session: AsyncSession, *, name: str, scopes: Sequence[Scope]
) -> tuple[ApiKey, str]:
    secret = generate_key()
    key = ApiKey(
        name=name,
        prefix=secret[:_VISIBLE_CHARS],
        key_hash=hash_key(secret),
        scopes=sorted({str(s) for s in scopes}),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    result = await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
    return result.all()


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    key = await session.get(ApiKey, key_id, with_for_update=True)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


# Run on every request: built once.
_ACTIVE_KEY = select(ApiKey).where(
    ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None)
)


async def find_active_key(session: AsyncSession, secret: str) -> ApiKey | None:
    if not secret.startswith(KEY_PREFIX):
        return None
    digest = hash_key(secret)
    key = await session.scalar(_ACTIVE_KEY, {"digest": digest})
    # The index lookup already matched; the constant-time compare keeps the check
    # independent of how the database compares strings.
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return key


async def ensure_key(
    session: AsyncSession, *, secret: str, name: str, scopes: Sequence[Scope]
) -> None:
    """Make sure a key with this secret exists; safe when several workers start at once."""
    insert = insert_for(session)
    statement = (
        insert(ApiKey)
        .values(
            id=uuid.uuid4(),
            name=name,
            prefix=secret[:_VISIBLE_CHARS],
            key_hash=hash_key(secret),
            scopes=sorted({str(s) for s in scopes}),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )
    await session.execute(statement)
