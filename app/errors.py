"""RFC 9457 problem details: one error base class and the handlers that render it."""

import logging
import re
import sqlite3
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.database import driver_errors, is_transient_database_error

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:reinforce:problem:"
# Locks and full pools clear within moments; a client that waits much longer gains nothing.
DATABASE_RETRY_AFTER_SECONDS = 1


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_PREFIX + slug


class ErrorItem(BaseModel):
    pointer: str = Field(
        description="JSON pointer to the offending value within `location` "
        "(e.g. `/data/amount` in the body, `/limit` in the query)."
    )
    location: str = Field(description="Where the value was: body, query, path or header.")
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="Stable identifier of the kind of error; match on this.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = Field(default=None, description="Quote this when reporting.")


class ValidationProblem(Problem):
    errors: list[ErrorItem]


class ProblemError(Exception):
    """Base of every error the API answers on purpose.

    Subclasses fix ``status`` and ``slug``; instances carry the detail and any extra
    members (RFC 9457 extension members) the client needs to act on the error.
    """

    status: int = 500
    slug: str = "internal-error"
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(ProblemError):
    status, slug = 400, "bad-request"


class Unauthorized(ProblemError):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ProblemError):
    status, slug = 403, "forbidden"


class NotFound(ProblemError):
    status, slug = 404, "not-found"


class Conflict(ProblemError):
    status, slug = 409, "conflict"


class Unprocessable(ProblemError):
    status, slug = 422, "unprocessable"


class InvalidCursor(Unprocessable):
    """A page cursor this API did not issue (every paginated list answers it alike)."""

    slug = "invalid-cursor"


def problem_document(
    *,
    status: int,
    slug: str,
    detail: str | None,
    instance: str | None,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": correlation_id.get(),
    }
    body.update(extra or {})
    return body


def document_for(exc: ProblemError, instance: str | None) -> dict[str, Any]:
    return problem_document(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=instance,
        extra=exc.extra,
    )


def _render(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str | None = None,
    detail: str | None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_document(
        status=status,
        slug=slug,
        title=title,
        detail=detail,
        instance=request.url.path,
        extra=extra,
    )
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _pointer(parts: Sequence[int | str]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/" + "/".join(escaped) if parts else ""


def _written_path(loc: list[int | str], body: Any) -> list[int | str]:
    """Drop the segments pydantic adds for tagged unions (``purchase`` in
    ``/purchase/data/amount``): keys the client never wrote, found by walking the body."""
    path: list[int | str] = []
    node = body
    for index, segment in enumerate(loc):
        is_last = index == len(loc) - 1
        if isinstance(node, dict):
            if segment in node:
                node = node[segment]
            elif not is_last:
                continue
        elif isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
            node = node[segment]
        else:
            node = None
        path.append(segment)
    return path


def validation_items(errors: Sequence[Any], body: Any = None) -> list[dict[str, str]]:
    """Turn pydantic error dicts into ``{pointer, location, detail}`` items."""
    items = []
    for error in errors:
        loc = list(error.get("loc", ()))
        in_request = loc and loc[0] in {"body", "query", "path", "header", "cookie"}
        location = str(loc.pop(0)) if in_request else "body"
        if error.get("type") in {"union_tag_invalid", "union_tag_not_found"}:
            # pydantic reports a bad tag at the union itself; the client's mistake is the
            # tag field (e.g. /type), so point there.
            loc.append(str(error.get("ctx", {}).get("discriminator", "")).strip("'"))
        if location == "body":
            loc = _written_path(loc, body)
        items.append(
            {"pointer": _pointer(loc), "location": location, "detail": error.get("msg", "")}
        )
    return items


def validation_detail(items: Sequence[dict[str, str]]) -> str:
    if not items:
        return "The request is not valid."
    first = items[0]
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return f"{first['location']} {first['pointer'] or '(root)'}: {first['detail']}{more}"


async def _problem_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return JSONResponse(
        document_for(exc, request.url.path),
        status_code=exc.status,
        headers=exc.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = validation_items(exc.errors(), exc.body)
    return _render(
        request,
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=validation_detail(items),
        extra={"errors": items},
    )


_HTTP_SLUGS = {
    400: "malformed-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
}


def _allowed_methods(request: Request, fallback: str) -> str:
    """Every method the API serves on this path, read from the OpenAPI document: Starlette's
    own ``Allow`` names only the first route matching the path, while GET and POST on one
    path are often separate routes."""
    path = request.url.path
    methods = {
        method.upper()
        for template, item in request.app.openapi().get("paths", {}).items()
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)
        for method in item
    }
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods)) or fallback


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.method} {request.url.path}."
    elif exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
        detail = f"{request.method} is not allowed on {request.url.path}: use {headers['Allow']}."
    return _render(
        request,
        status=exc.status_code,
        slug=_HTTP_SLUGS.get(exc.status_code, "http-error"),
        detail=detail,
        headers=headers,
    )


def _request_id_header() -> dict[str, str]:
    # For the handler of last resort, which runs outside the middlewares (the request id
    # one included): the response would otherwise lack the id its body quotes.
    request_id = correlation_id.get()
    return {"X-Request-ID": request_id} if request_id else {}


def _driver_message(exc: Exception) -> str:
    # The driver's own words, without the SQL statement and parameters SQLAlchemy adds
    # (asyncpg's, not those of SQLAlchemy's adapter around them).
    *_, error = driver_errors(exc)
    return f"{type(error).__name__}: {error}"


def _database_unavailable(
    request: Request, exc: Exception, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    # Expected under load or during a failover, and the client is told to retry: a line
    # per request is enough, a traceback per request would bury real errors.
    logger.warning(
        "database unavailable: %s", _driver_message(exc), extra={"path": request.url.path}
    )
    return _render(
        request,
        status=503,
        slug="database-unavailable",
        detail="The database is busy or unreachable at the moment. The request can be "
        "retried after the time in Retry-After.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS), **(headers or {})},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_transient_database_error(exc):
        return _database_unavailable(request, exc)
    # Anything else goes on to the 500 handler, as every unexpected error does.
    raise exc


def internal_error_problem(exc: BaseException, instance: str | None) -> dict[str, Any]:
    """The last line of defence: log ``exc`` with its stack, and answer the problem document
    (``internal-error``, carrying the request id) that the client sees instead.

    For the 500 handler below, and for a batch, which fails the one item that raised
    rather than the whole request. The body never carries the exception's text: it may
    quote data, SQL or secrets; the log line with the same request id has it all.
    """
    logger.error("unhandled error", exc_info=exc, extra={"path": instance})
    return problem_document(
        status=500,
        slug="internal-error",
        detail="An unexpected error occurred. Quote the request id when reporting it.",
        instance=instance,
    )


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    if is_transient_database_error(exc):
        # Raised in a middleware, where _database_error does not reach.
        return _database_unavailable(request, exc, headers=_request_id_header())
    return JSONResponse(
        internal_error_problem(exc, request.url.path),
        status_code=500,
        headers=_request_id_header(),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The classes a busy or unreachable database raises. Handled here, inside the
    # middlewares, so that the 503 still gets CORS headers; OSError is a failed connect.
    for database_error in (sa_exc.DBAPIError, sa_exc.TimeoutError, sqlite3.Error, OSError):
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unhandled_error)


_DESCRIPTIONS = {
    400: "The request cannot be processed as sent.",
    401: "No bearer token, or one that is invalid, expired or revoked.",
    403: "The token lacks the scope this operation requires.",
    404: "The resource does not exist.",
    409: "The request conflicts with the current state.",
    413: "The request body is larger than allowed.",
    422: "The request is well-formed but not valid (`errors` says where), or refused by a "
    "business rule.",
    429: "Too many requests; retry after the time in `Retry-After`.",
    500: "An unexpected error: a problem document (`internal-error`) carrying the request "
    "id to quote, never a stack trace.",
    503: "The database is busy or unreachable; retry after the time in `Retry-After`.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the problems a route can answer."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Problem"}
        if status == 422:
            # Invalid input comes with `errors`; a business rule refusing valid input
            # (insufficient points, an unknown cursor) is a plain problem.
            schema = {"anyOf": [{"$ref": "#/components/schemas/ValidationProblem"}, schema]}
        responses[status] = {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
    return responses


def problem_schemas() -> dict[str, Any]:
    """Component schemas that ``problem_responses`` refers to, for the OpenAPI document."""
    schema = ValidationProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["ValidationProblem"] = schema
    components["Problem"] = Problem.model_json_schema()
    return components
