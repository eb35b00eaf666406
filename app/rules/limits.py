"""Per-customer limit periods: the key of the calendar period an event counts in."""

from datetime import UTC, datetime

from app.rules.schemas import Period


def period_key(period: Period, occurred_at: datetime) -> str:
    """Key of the calendar period (UTC) containing ``occurred_at``, for limit counters:
    'lifetime', '2026-11-23' (day), '2026-W48' (ISO week, Monday start), '2026-11' (month).
    A naive datetime is taken to be UTC."""
    if period == "lifetime":
        return "lifetime"
    at = occurred_at.replace(tzinfo=UTC) if occurred_at.tzinfo is None else occurred_at
    utc = at.astimezone(UTC)
    if period == "day":
        return utc.date().isoformat()
    if period == "week":
        iso = utc.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if period == "month":
        return f"{utc.year:04d}-{utc.month:02d}"
    raise ValueError(f"unknown period {period!r}")
