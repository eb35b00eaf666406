"""The query parameters the metrics routes share, with the bounds the document states."""

from datetime import date, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime

# The window's arithmetic (a date `to` moves to the next midnight, the default `from` is 90
# days back, activity looks up to 10 years further back, the conversion to UTC shifts by
# the offset) must stay inside what datetime and both databases carry, years 1 to 9999.
FIRST_YEAR = 1970
LAST_YEAR = 9000
_BOUNDS = f"Years {FIRST_YEAR} to {LAST_YEAR}."


def _within_years(value: datetime | date) -> datetime | date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be within the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


Instant = Annotated[AwareDatetime | date, AfterValidator(_within_years)]

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
