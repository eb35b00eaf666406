"""Refuse request bodies over a size limit before anything parses them."""

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_MEDIA_TYPE, problem_document


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit} bytes."


class BodyLimitMiddleware:
    """A 413 problem for bodies over the limit: at once when ``Content-Length`` says so,
    otherwise (chunked uploads) as soon as the bytes received pass it."""

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
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            body = problem_document(
                status=413,
                slug="payload-too-large",
                detail=_too_large(limit),
                instance=scope["path"],
            )
            response = JSONResponse(body, status_code=413, media_type=PROBLEM_MEDIA_TYPE)
            await response(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised into the reader of the body (the route's body parsing), so
                    # the app's own handler renders it as a problem.
                    raise HTTPException(413, detail=_too_large(limit))
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
