"""Standings as the API answers them, for the admin routes and the shopper's own."""

from dataclasses import dataclass

from app.database import ReadSession
from app.gamification import service
from app.gamification import standings as reads
from app.gamification.schemas import (
    CustomerStandingOut,
    MyStandingOut,
    ShopperEntry,
    StandingEntry,
    StandingsOut,
)
from app.models import Leaderboard
from app.models.base import utcnow


def _entries(ranked: list[reads.Ranked], names: dict[str, str | None]) -> list[StandingEntry]:
    return [
        StandingEntry(
            rank=r.rank,
            customer_id=r.row.customer_id,
            display_name=names.get(r.row.customer_id),
            score=r.row.score,
            reached_at=r.row.reached_at,
        )
        for r in ranked
    ]


async def standings_page(
    session: ReadSession, board_id: str, period: str, cursor: str | None, limit: int
) -> StandingsOut:
    board = await service.get(session, board_id)
    resolved = reads.resolve_period(board, period, utcnow())
    ranked, next_cursor = await reads.page(session, reads.Source(board, resolved), cursor, limit)
    names = await reads.display_names(session, [r.row.customer_id for r in ranked])
    return StandingsOut(
        leaderboard_id=board.id,
        period=resolved.key,
        starts_at=resolved.starts_at,
        ends_at=resolved.ends_at,
        entries=_entries(ranked, names),
        next_cursor=next_cursor,
    )


@dataclass(frozen=True, slots=True)
class _Placed:
    board: Leaderboard
    period: reads.Period
    place: reads.Place
    names: dict[str, str | None]


async def _placed(
    session: ReadSession, board_id: str, customer_id: str, period: str, neighbours: int
) -> _Placed:
    board = await service.get(session, board_id)
    resolved = reads.resolve_period(board, period, utcnow())
    place = await reads.place(session, reads.Source(board, resolved), customer_id, neighbours)
    shown = [r.row.customer_id for r in (*place.above, *place.below)]
    if place.entry is not None:
        shown.append(customer_id)
    return _Placed(board, resolved, place, await reads.display_names(session, shown))


async def customer_standing(
    session: ReadSession, board_id: str, customer_id: str, period: str, neighbours: int
) -> CustomerStandingOut:
    placed = await _placed(session, board_id, customer_id, period, neighbours)
    place, names = placed.place, placed.names
    entry = _entries([place.entry], names)[0] if place.entry is not None else None
    return CustomerStandingOut(
        leaderboard_id=placed.board.id,
        period=placed.period.key,
        starts_at=placed.period.starts_at,
        ends_at=placed.period.ends_at,
        customer_id=customer_id,
        entry=entry,
        above=_entries(place.above, names),
        below=_entries(place.below, names),
    )


async def my_standing(
    session: ReadSession, board_id: str, customer_id: str, period: str, neighbours: int
) -> MyStandingOut:
    """The shopper's view: display names only, never another customer's id."""
    placed = await _placed(session, board_id, customer_id, period, neighbours)
    place, names = placed.place, placed.names
    run = [*place.above, *([place.entry] if place.entry else []), *place.below]
    return MyStandingOut(
        leaderboard_id=placed.board.id,
        name=placed.board.name,
        period=placed.period.key,
        starts_at=placed.period.starts_at,
        ends_at=placed.period.ends_at,
        rank=place.entry.rank if place.entry else None,
        score=place.entry.row.score if place.entry else None,
        entries=[
            ShopperEntry(
                rank=r.rank,
                display_name=names.get(r.row.customer_id),
                score=r.row.score,
                me=r.row.customer_id == customer_id,
            )
            for r in run
        ],
    )
