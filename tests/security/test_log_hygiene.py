import io
import logging

import httpx
import pytest

from app.logging import RedactSecrets, logging_config
from tests.conftest import make_settings

KEY = "rk_" + "S3cr3t-" * 6
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, exc_info)


def test_keys_and_tokens_are_redacted_from_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    # The shape of uvicorn's access line, with secrets pasted into a query string.
    handler.handle(
        _record(
            '%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", f"/v1/me?k={KEY}&t={TOKEN}", "1.1", 200
        )
    )
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError as exc:
        handler.handle(_record("failed", exc=exc))
    output = stream.getvalue()
    assert KEY not in output
    assert TOKEN not in output
    assert "S3cr3t" not in output
    assert output.count("[redacted]") == 3
    assert "GET /v1/me?k=[redacted]&t=[redacted]" in output


def test_every_log_handler_redacts(database_url: str) -> None:
    config = logging_config(make_settings(database_url))
    for handler in config["handlers"].values():
        assert "redact" in handler["filters"]
    assert config["filters"]["redact"]["()"] == "app.logging.RedactSecrets"


async def test_a_request_logs_no_secret(
    client: httpx.AsyncClient, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = admin_headers["Authorization"].removeprefix("Bearer ")
    await client.get("/v1/api-keys", headers=admin_headers)
    await client.get("/v1/api-keys", headers={"Authorization": "Bearer rk_wrong_" + "x" * 30})
    assert secret not in caplog.text
    assert "rk_wrong_" not in caplog.text


def test_extras_are_redacted_too() -> None:
    # The "database unavailable" warning logs the URL path as an extra; a key pasted into
    # the path would otherwise reach the JSON log as its own field.
    record = _record("database unavailable: %s", "OperationalError")
    record.path = f"/v1/customers/{KEY}/ledger"
    record.details = {"tokens": [TOKEN], "count": 3}
    RedactSecrets().filter(record)
    assert record.path == "/v1/customers/[redacted]/ledger"
    assert record.details == {"tokens": ["[redacted]"], "count": 3}
    assert record.levelname == "INFO"
