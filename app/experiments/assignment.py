"""Deterministic, sticky assignment: a hash of (salt, customer id) picks one of 10,000
buckets, and the buckets are dealt to the variants in order, in proportion to their
weights. Pure, so that every worker (and the pipeline's reducer) agrees without a read.

``bucket = int.from_bytes(sha256(f"{salt}:{customer_id}")[:8], "big") % 10000``; a
variant of weight ``w`` (percent) takes ``100 * w`` consecutive buckets, the control first.
"""

import hashlib
from collections.abc import Sequence
from typing import Final

BUCKETS: Final = 10_000


def bucket(salt: str, customer_id: str) -> int:
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def variant_for(salt: str, customer_id: str, variants: Sequence[tuple[str, int]]) -> str:
    """The variant (of ``(id, weight)`` pairs whose weights sum to 100) of the customer."""
    slot = bucket(salt, customer_id)
    edge = 0
    for variant_id, weight in variants:
        edge += weight * BUCKETS // 100
        if slot < edge:
            return variant_id
    return variants[-1][0]
