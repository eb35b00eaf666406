"""Read request bodies once, at the door: refuse what is too large (413), JSON whose
meaning is ambiguous (400: a member name repeated in one object, nesting past what a parser
can follow) and JSON text no database can store (422), before anything parses or stores it."""

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_MEDIA_TYPE, problem_document


class BodyLimitMiddleware:
    """A 413 problem for bodies over the limit: at once when ``Content-Length`` says so,
    otherwise (chunked uploads) as soon as the bytes received pass it.

    The body is buffered (it is bounded by the limit, and the route would buffer it to
    parse it anyway) and handed on unchanged.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit, scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        if body and _is_json(scope):
            try:
                document = _parse(body)
                # Only a \u escape can put NUL or a lone surrogate into JSON text (raw
                # control characters are invalid JSON), so most bodies need no walk.
                pointer = _unstorable_text(document) if b"\\u" in body else None
            except _Ambiguous as exc:
                await _malformed(str(exc), scope, receive, send)
                return
            except RecursionError:
                await _malformed("The JSON body is nested too deeply.", scope, receive, send)
                return
            if pointer is not None:
                await _unstorable(pointer, scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1").strip()
    return None


def _is_json(scope: Scope) -> bool:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return content_type in {"", "application/json"} or content_type.endswith("+json")


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False  # PostgreSQL text and jsonb cannot hold NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate: not Unicode text at all
    return True


def _find(node: Any, path: list[str]) -> list[str] | None:
    if isinstance(node, str):
        return None if _storable(node) else path
    if isinstance(node, dict):
        for key, value in node.items():
            if not _storable(key):
                return [*path, key]
            found = _find(value, [*path, key])
            if found is not None:
                return found
    if isinstance(node, list):
        for index, value in enumerate(node):
            found = _find(value, [*path, str(index)])
            if found is not None:
                return found
    return None


class _Ambiguous(ValueError):
    """JSON text that parsers read differently."""


_NOT_JSON = object()


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        names = [key for key, _ in pairs]
        repeated = next(key for index, key in enumerate(names) if key in names[:index])
        # Parsers disagree on which of two values wins (the first, the last, an error):
        # a proxy and this service could read two different requests from the same bytes.
        raise _Ambiguous(f"The member name {repeated!r} appears twice in one JSON object.")
    return members


def _parse(body: bytes) -> Any:
    """The body as JSON; ``_NOT_JSON`` when it is not JSON at all (the route answers that)."""
    try:
        return json.loads(body, object_pairs_hook=_members)
    except _Ambiguous:
        raise
    except ValueError:
        return _NOT_JSON


def _unstorable_text(document: Any) -> str | None:
    """JSON pointer to the first string holding NUL or a lone surrogate, if any."""
    if document is _NOT_JSON:
        return None
    found = _find(document, [])
    if found is None:
        return None
    escaped = (
        p.encode("utf-8", "backslashreplace").decode().replace("~", "~0").replace("/", "~1")
        for p in found
    )
    return "/" + "/".join(escaped) if found else ""


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    body = problem_document(
        status=413,
        slug="payload-too-large",
        detail=f"The request body is larger than {limit} bytes.",
        instance=scope["path"],
    )
    await JSONResponse(body, status_code=413, media_type=PROBLEM_MEDIA_TYPE)(scope, receive, send)


async def _malformed(detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    body = problem_document(
        status=400, slug="malformed-request", detail=detail, instance=scope["path"]
    )
    await JSONResponse(body, status_code=400, media_type=PROBLEM_MEDIA_TYPE)(scope, receive, send)


async def _unstorable(pointer: str, scope: Scope, receive: Receive, send: Send) -> None:
    detail = "text must be Unicode without NUL characters or unpaired surrogates"
    body = problem_document(
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=f"body {pointer or '(root)'}: {detail}",
        instance=scope["path"],
        extra={"errors": [{"pointer": pointer, "location": "body", "detail": detail}]},
    )
    await JSONResponse(body, status_code=422, media_type=PROBLEM_MEDIA_TYPE)(scope, receive, send)
