"""Prometheus counts of what a session wrote, added only when the session commits.

A service runs inside a transaction that may still roll back (a later step refuses, the
commit fails), so it notes what it did on the session, and the count is added by the
``after_commit`` listener, or forgotten by ``after_rollback``.
"""

from collections import Counter as Tally

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "reinforce.counted_on_commit"


def add_on_commit(session: Session, counter: Counter, labels: tuple[str, ...], amount: int) -> None:
    pending: Tally[tuple[Counter, tuple[str, ...]]] = session.info.setdefault(_PENDING, Tally())
    pending[(counter, labels)] += amount


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for (counter, labels), amount in session.info.pop(_PENDING, Tally()).items():
        counter.labels(*labels).inc(amount)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
