"""JSON logs on stdout, each line carrying the request id of the request it belongs to."""

import logging
import logging.config
import re
from typing import Any

from app.config import Settings

# API keys and JWTs (three base64url parts, the first two JSON objects: "eyJ...").
_SECRETS = re.compile(r"rk_[A-Za-z0-9_-]+|eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_FORMATTER = logging.Formatter()
# What every LogRecord carries; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item) for item in value)
    return value


class RedactSecrets(logging.Filter):
    """Scrub API keys and shopper tokens from every record before it is written.

    Nothing logs the Authorization header on purpose; this catches the accidents: a key
    pasted into a query string (uvicorn's access line) or a URL path (the ``path`` extra),
    an exception message quoting one. Extras are scrubbed too: the JSON formatter writes
    each one as a field of its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            # Formatters (the JSON one too) print exc_text as is when exc_info is gone.
            record.exc_text = redact(record.exc_text or _FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, _redact_value(value))
        return True


def logging_config(settings: Settings) -> dict[str, Any]:
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "correlation_id": "request_id",
            },
        }
        if settings.log_json
        else {"format": "%(asctime)s %(levelname)-7s [%(correlation_id)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "asgi_correlation_id.CorrelationIdFilter", "default_value": "-"},
            "redact": {"()": "app.logging.RedactSecrets"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id", "redact"],
            }
        },
        "root": {"handlers": ["stdout"], "level": settings.log_level},
        "loggers": {
            "uvicorn": {"handlers": ["stdout"], "level": settings.log_level, "propagate": False},
            "uvicorn.access": {
                "handlers": ["stdout"],
                "level": settings.log_level,
                "propagate": False,
            },
            "uvicorn.error": {
                "handlers": ["stdout"],
                "level": settings.log_level,
                "propagate": False,
            },
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
