"""The Prometheus count of points moved, by ledger entry kind, once the move is committed.

Ingestion counts its own unit after the commit (``app.events.counters``); the ledger's
other writers (redemptions, adjustments, expiry, refund clawbacks) note what they moved on
their session (``app.counters``).
"""

from prometheus_client import Counter
from sqlalchemy.orm import Session

from app.counters import add_on_commit

POINTS = Counter(
    "reinforce_points_total",
    "Points moved, by ledger entry kind (earn, redeem, expire, reverse, adjust); "
    "counted once committed.",
    ["kind"],
)


def note(session: Session, kind: str, points: int) -> None:
    add_on_commit(session, POINTS, (kind,), abs(points))
