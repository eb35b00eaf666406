"""Who is calling, and may they? Every protected route depends on ``RequireScope``."""

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service
from app.auth.scopes import Scope
from app.database import DatabaseDep
from app.errors import Forbidden, Unauthorized

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


async def authenticate(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    # A short read of its own: the key lookup must not hold a connection (or SQLite's
    # write lock) for the rest of the request.
    async with database.read_sessionmaker() as session:
        key = await service.find_active_key(session, credentials.credentials)
    if key is None:
        raise Unauthorized("The bearer token is not a valid, unrevoked API key.")
    return Principal(kind="api_key", scopes=frozenset(key.scopes), key_id=key.id)


class RequireScope:
    """Dependency that admits a principal holding ``scope`` (``admin`` holds them all)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.allows(self.scope):
            raise Forbidden(
                f"This operation requires the '{self.scope}' scope.",
                extra={"required_scope": str(self.scope)},
            )
        return principal


AdminPrincipal = Annotated[Principal, Depends(RequireScope(Scope.admin))]
