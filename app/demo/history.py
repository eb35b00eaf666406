"""A synthetic shop history that every metric can read, and the predictive fit can fit.

Each customer is drawn from the models the predictive CLTV fits, so the fit finds what
was put in:

- BG/NBD: a purchase rate ``lambda ~ Gamma(r, alpha)`` a day, and after each purchase a chance
  ``p ~ Beta(a, b)`` of never coming back;
- Gamma-Gamma: a spending level ``nu ~ Gamma(q, gamma)``, each order worth ``Gamma(p, nu)``.

Around the purchases: sign-ups (a fifth of them referred by an earlier customer), the
newsletter, reviews, social shares, CSAT after some orders, NPS a month in (detractors
more often among customers about to leave), renewals, upgrades and a few refunds.

A customer's history depends only on their number and the day the history ends, so a
larger demo is the smaller one plus new customers.
"""

import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DEMO_PREFIX = "demo-"
HISTORY_DAYS = 365
# BG/NBD, in days: a purchase every 27 days on average, a 21 % chance of leaving after each.
_R, _ALPHA = 0.75, 20.0
_A, _B = 0.8, 3.0
# Gamma-Gamma: orders of about 60 on average, some customers spending far more than others.
_P, _Q, _GAMMA = 6.0, 4.0, 30.0
_CHANNELS = ("web", "app", "store")


def customer_id(index: int) -> str:
    return f"{DEMO_PREFIX}c{index:03d}"


@dataclass
class _Customer:
    id: str
    rng: random.Random
    signup: datetime
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, type_: str, at: datetime, **data: Any) -> None:
        self.events.append(
            {
                "id": f"{self.id}-e{len(self.events) + 1:03d}",
                "type": type_,
                "customer_id": self.id,
                "occurred_at": at.isoformat(),
                "channel": self.rng.choice(_CHANNELS),
                "data": data,
            }
        )


def _customer(index: int, anchor: datetime) -> _Customer:
    rng = random.Random(f"reinforce-demo:{index}")  # noqa: S311 - synthetic data, not secrets
    start = anchor - timedelta(days=HISTORY_DAYS)
    signup = start + timedelta(minutes=rng.randrange(0, (HISTORY_DAYS - 7) * 24 * 60))
    return _Customer(customer_id(index), rng, signup)


def _purchases(c: _Customer, anchor: datetime) -> float:
    """Orders, and what follows them; answers the customer's chance of leaving."""
    rng = c.rng
    rate, leaving, level = (
        rng.gammavariate(_R, 1 / _ALPHA),
        rng.betavariate(_A, _B),
        rng.gammavariate(_Q, 1 / _GAMMA),
    )
    if rng.random() < 0.15:  # signed up, never bought
        return leaving
    at = c.signup + timedelta(minutes=rng.uniform(5, 3 * 24 * 60))
    orders = 0
    while at < anchor:
        orders += 1
        order_id = f"{c.id}-o{orders:02d}"
        amount = min(max(rng.gammavariate(_P, 1 / level), 1.0), 5000.0)
        c.add("purchase", at, order_id=order_id, amount=f"{amount:.2f}", currency="EUR")
        if rng.random() < 0.04:
            back = amount if rng.random() < 0.5 else amount * rng.uniform(0.2, 0.8)
            c.add("refund", at + timedelta(days=rng.uniform(1, 10)), order_id=order_id,
                  amount=f"{back:.2f}")  # fmt: skip
        if rng.random() < 0.3:
            c.add("review", at + timedelta(days=rng.uniform(1, 7)), rating=rng.randint(1, 5))
        if rng.random() < 0.3:
            csat = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 4])[0]
            c.add("feedback", at + timedelta(hours=rng.uniform(2, 48)), survey="csat", score=csat)
        if rng.random() < 0.1:
            c.add("social_engagement", at + timedelta(hours=3), network="instagram",
                  action="share")  # fmt: skip
        if rng.random() < leaving:
            break
        # A slow buyer's next gap can run past any calendar: beyond the history is enough.
        at += timedelta(days=min(rng.expovariate(rate), 2 * HISTORY_DAYS))
    return leaving


def _around(c: _Customer, leaving: float, referrer: str | None) -> None:
    rng = c.rng
    if referrer is not None:
        c.add("signup", c.signup, referred_by=referrer)
    else:
        c.add("signup", c.signup)
    if rng.random() < 0.5:
        c.add("subscription", c.signup + timedelta(minutes=5), list="newsletter")
    if rng.random() < 0.6:
        unhappy = rng.random() < leaving
        score = rng.choice([2, 4, 5, 6, 7]) if unhappy else rng.choice([7, 8, 9, 9, 10, 10])
        c.add("feedback", c.signup + timedelta(days=30), survey="nps", score=score)
    if rng.random() < 0.2:
        c.add("renewal", c.signup + timedelta(days=60), subscription_id=f"{c.id}-sub")
    if rng.random() < 0.1:
        c.add("upgrade", c.signup + timedelta(days=90), plan="premium")


def synthetic_events(anchor: datetime, first: int, last: int) -> list[dict[str, Any]]:
    """The events, before ``anchor`` and in time order, of customers ``first``..``last``.

    A referred customer's ``signup`` names its referrer (an earlier customer of the same
    range) in ``data.referred_by``; the loader turns that into the referrer's code."""
    customers = [_customer(index, anchor) for index in range(first, last + 1)]
    by_signup = sorted(customers, key=lambda c: c.signup)
    signups = [c.signup for c in by_signup]
    events: list[dict[str, Any]] = []
    for c in customers:
        leaving = _purchases(c, anchor)
        earlier = bisect_left(signups, c.signup)
        referrer = None
        if earlier and c.rng.random() < 0.2:
            referrer = by_signup[c.rng.randrange(earlier)].id
        _around(c, leaving, referrer)
        events.extend(c.events)
    kept = [e for e in events if datetime.fromisoformat(e["occurred_at"]) < anchor]
    kept.sort(key=lambda e: (e["occurred_at"], e["id"]))
    return kept
