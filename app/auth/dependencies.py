"""Who is calling, and may they? Every protected route depends on ``RequireScope``."""

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service
from app.auth.cache import KeyCache
from app.auth.scopes import Scope
from app.auth.tokens import InvalidToken, TokenCodec
from app.database import DatabaseDep
from app.errors import Forbidden, Unauthorized
from app.middleware.rate_limit import RateLimiter

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`rk_...`) for servers, or a shopper token for frontends.",
)


@dataclass(frozen=True)
class Principal:
    kind: Literal["api_key", "shopper"]
    scopes: frozenset[str] = field(default_factory=frozenset)
    key_id: uuid.UUID | None = None
    customer_id: str | None = None

    def allows(self, scope: Scope) -> bool:
        return Scope.admin in self.scopes or scope in self.scopes


async def _identify(request: Request, database: DatabaseDep, secret: str) -> Principal:
    if secret.startswith(service.KEY_PREFIX):
        cache: KeyCache[Principal] = request.app.state.key_cache
        digest = service.hash_key(secret)
        known = cache.get(digest)
        if known is not None:
            return known
        # A short read of its own: the key lookup must not hold a connection (or SQLite's
        # write lock) for the rest of the request.
        async with database.lookup_sessionmaker() as session:
            key = await service.find_active_key(session, secret)
        if key is None:
            raise Unauthorized("The bearer token is not a valid, unrevoked API key.")
        principal = Principal(kind="api_key", scopes=frozenset(key.scopes), key_id=key.id)
        cache.put(digest, key.id, principal)
        return principal
    codec: TokenCodec = request.app.state.tokens
    try:
        customer_id = codec.verify(secret)
    except InvalidToken:
        # The reason (expired, bad signature, audience) stays on the server: telling a
        # forger which check failed helps only the forger.
        raise Unauthorized(
            "The bearer token is neither an API key nor a valid, unexpired shopper token."
        ) from None
    return Principal(kind="shopper", customer_id=customer_id)


async def authenticate(
    request: Request,
    response: Response,
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    principal = await _identify(request, database, credentials.credentials)
    limiter: RateLimiter = request.app.state.rate_limiter
    identity = str(principal.key_id) if principal.kind == "api_key" else principal.customer_id
    quota = await limiter.hit(principal.kind, str(identity))
    if quota is not None:
        response.headers.update(quota.headers())
    return principal


class RequireScope:
    """Dependency that admits a principal holding ``scope`` (``admin`` holds them all)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.kind == "shopper":
            raise Forbidden(
                "A shopper token may only be used on the /v1/me routes.",
                extra={"required_scope": str(self.scope)},
            )
        if not principal.allows(self.scope):
            raise Forbidden(
                f"This operation requires the '{self.scope}' scope.",
                extra={"required_scope": str(self.scope)},
            )
        return principal


AdminPrincipal = Annotated[Principal, Depends(RequireScope(Scope.admin))]


async def require_shopper(principal: Annotated[Principal, Depends(authenticate)]) -> str:
    """Dependency for the /v1/me routes: the customer id of the shopper token's holder."""
    if principal.kind != "shopper" or principal.customer_id is None:
        raise Forbidden(
            "This route takes a shopper token; servers use /v1/customers/{customer_id}."
        )
    return principal.customer_id


ShopperId = Annotated[str, Depends(require_shopper)]
