"""The query parameters the metrics routes share, with the bounds the document states."""

from typing import Annotated

from fastapi import Query

from app.schemas import MAX_YEAR, MIN_YEAR, Instant

_BOUNDS = f"Years {MIN_YEAR} to {MAX_YEAR}."

From = Annotated[
    Instant | None,
    Query(
        alias="from",
        description="Start of the window: a date (midnight UTC) or a datetime with an offset. "
        f"Default: 90 days before `to`. Must be before `to` (`from` at or after `to` is a "
        f"`422 invalid-window`). {_BOUNDS}",
    ),
]
To = Annotated[
    Instant | None,
    Query(
        alias="to",
        description="End of the window, exclusive: a datetime with an offset, or a date "
        f"(that whole day is included). Default: now. Must be after `from`. {_BOUNDS}",
    ),
]
ActivityDays = Annotated[
    int,
    Query(
        ge=1,
        le=3650,
        description="Retention, churn and the lifespan of historical CLTV: a customer is "
        "active at an instant when they purchased or renewed in the preceding "
        "`activity_days` days.",
    ),
]
