"""The tier ladder: which tier lifetime points reach, and when a customer moves up."""

from bisect import bisect_right
from collections.abc import Sequence

from app.rules.schemas import TierLadder, TierThreshold


def tier_for_points(
    ladder: TierLadder | Sequence[TierThreshold], lifetime_points: int
) -> str | None:
    """The highest tier whose threshold ``lifetime_points`` reaches; None below the lowest."""
    steps = ladder.tiers if isinstance(ladder, TierLadder) else ladder
    thresholds = [s.min_lifetime_points for s in steps]
    index = bisect_right(thresholds, lifetime_points)
    return steps[index - 1].tier if index else None


def tier_promotion(ladder: TierLadder, current: str | None, lifetime_points: int) -> str | None:
    """The ladder tier to move a customer to, or None to leave them where they are.

    Tiers only go up: lifetime earned points never decrease, and a refund or expiry does not
    demote. A tier that is not on the ladder (given by a set_tier rule) is left alone.
    """
    reached = tier_for_points(ladder, lifetime_points)
    if reached is None:
        return None
    names = [step.tier for step in ladder.tiers]
    if current is None:
        return reached
    if current not in names:
        return None
    return reached if names.index(reached) > names.index(current) else None
