"""Rate limits per API key and per shopper, counted by the ``limits`` package.

In memory by default (each worker counts on its own); with ``REINFORCE_REDIS_URL`` every
worker counts in the same Redis, so the limit holds for the whole deployment.
"""

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.config import Settings
from app.errors import ProblemError

logger = logging.getLogger(__name__)


class RateLimited(ProblemError):
    status, slug = 429, "rate-limited"


@dataclass(frozen=True)
class Quota:
    """Where a caller stands against its tightest limit, as RateLimit-* headers."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def _parse(notation: str) -> list[RateLimitItem]:
    return parse_many(notation) if notation else []


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        uri = "async+memory://"
        if settings.redis_url is not None:
            uri = "async+" + settings.redis_url.get_secret_value()
        storage = storage_from_string(uri)
        assert isinstance(storage, Storage)
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.limits = {
            "api_key": _parse(settings.rate_limit),
            "shopper": _parse(settings.shopper_rate_limit),
        }

    async def hit(self, kind: str, identity: str) -> Quota | None:
        """Count one request; ``RateLimited`` when any limit of ``kind`` is used up."""
        items: Sequence[RateLimitItem] = self.limits.get(kind, [])
        tightest: Quota | None = None
        for item in items:
            try:
                allowed = await self.strategy.hit(item, kind, identity)
                stats = await self.strategy.get_window_stats(item, kind, identity)
            except Exception:
                # A shared store that is down must not take the API down with it: the
                # request goes through uncounted and the outage is logged.
                logger.warning("rate limit storage unavailable", exc_info=True)
                return None
            quota = Quota(
                limit=item.amount,
                remaining=max(stats.remaining, 0),
                reset_seconds=max(math.ceil(stats.reset_time - time.time()), 1),
            )
            if not allowed:
                raise RateLimited(
                    f"Too many requests: the limit is {item}. "
                    f"Retry after {quota.reset_seconds} seconds.",
                    extra={"limit": str(item)},
                    headers={"Retry-After": str(quota.reset_seconds), **quota.headers()},
                )
            if tightest is None or quota.remaining < tightest.remaining:
                tightest = quota
        return tightest
