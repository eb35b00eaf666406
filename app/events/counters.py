"""Prometheus counters of what ingestion did, updated once per committed unit."""

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from app.ledger.counters import POINTS

EVENTS = Counter(
    "reinforce_events_total",
    "Events answered by the ingest pipeline, by type and outcome "
    "(processed, replayed, refused, failed).",
    ["type", "outcome"],
)
UNIT_EVENTS = Histogram(
    "reinforce_ingest_unit_events",
    "Events per unit (one transaction) of the ingest pipeline: group commit at work.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
)
UNIT_SECONDS = Histogram(
    "reinforce_ingest_unit_seconds",
    "Time to run one unit of the ingest pipeline, from its first read to its commit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def outcome(status: int) -> str:
    if status == 201:
        return "processed"
    if status == 200:
        return "replayed"
    return "failed" if status >= 500 else "refused"


def count(
    types: Sequence[str], statuses: Sequence[int], points: Tally[str], seconds: float
) -> None:
    for (event_type, status), n in Tally(zip(types, statuses, strict=True)).items():
        EVENTS.labels(event_type, outcome(status)).inc(n)
    for kind, total in points.items():
        POINTS.labels(kind).inc(abs(total))
    UNIT_EVENTS.observe(len(types))
    UNIT_SECONDS.observe(seconds)
