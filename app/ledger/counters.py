"""The Prometheus count of points moved, by ledger entry kind, once the move is committed.

Ingestion counts its own unit after the commit (``app.events.counters``). The ledger's
other writers (redemptions, adjustments, expiry, refund clawbacks) run inside a session
that may still roll back, so they note what they moved on the session, and the count is
added only when that session commits.
"""

from collections import Counter as Tally

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.orm import Session

POINTS = Counter(
    "reinforce_points_total",
    "Points moved, by ledger entry kind (earn, redeem, expire, reverse, adjust); "
    "counted once committed.",
    ["kind"],
)

_PENDING = "reinforce.points_moved"


def note(session: Session, kind: str, points: int) -> None:
    """Count ``points`` of ``kind`` when ``session`` commits; forget them if it rolls back."""
    moved: Tally[str] = session.info.setdefault(_PENDING, Tally())
    moved[kind] += abs(points)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for kind, points in session.info.pop(_PENDING, Tally()).items():
        POINTS.labels(kind).inc(points)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
