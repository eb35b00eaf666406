"""A server killed mid-load loses nothing and doubles nothing once clients retry."""

import asyncio
import os
import signal
from collections import defaultdict
from typing import Any

import httpx
from sqlalchemy import func, select

from app.models import Event, LedgerEntry
from tests.factories import event, purchase
from tests.reliability.database import connect, ledger_invariant_violations
from tests.server import Server, running_server

CUSTOMERS = 100  # spread out, so row locks on customers rarely queue
EVENTS = 500
KILL_AFTER = 100  # acknowledged events before the SIGKILL


def _events() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """500 events and, by hand, what the default rules give for them.

    The default ruleset awards 1 point per whole currency unit of a purchase, rounded down,
    and nothing for other types: purchase i of amount "<n>.<cc>" earns n points.
    """
    bodies: list[dict[str, Any]] = []
    expected: dict[str, int] = defaultdict(int)
    for i in range(EVENTS):
        customer = f"crash-{i % CUSTOMERS}"
        if i % 10 == 8:
            bodies.append(event("review", customer, rating=1 + i % 5))
        elif i % 10 == 9:
            bodies.append(event("signup", customer))
        else:
            whole, cents = 5 + i % 97, i % 100
            bodies.append(purchase(customer, amount=f"{whole}.{cents:02d}"))
            expected[customer] += whole
    return bodies, expected


def _client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers=server.headers,
        timeout=30,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


async def _post_all(
    server: Server, bodies: list[dict[str, Any]], *, kill_after: int | None
) -> dict[str, int]:
    """Post every body at once; answers the 2xx status each event got (absent: none)."""
    acknowledged: dict[str, int] = {}
    enough = asyncio.Event()

    async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        try:
            response = await client.post("/v1/events", json=body)
        except httpx.TransportError:
            return
        if response.is_success:
            acknowledged[body["id"]] = response.status_code
            if kill_after is not None and len(acknowledged) >= kill_after:
                enough.set()

    async def killer() -> None:
        await enough.wait()
        os.kill(server.process.pid, signal.SIGKILL)

    async with _client(server) as client:
        kill_task = asyncio.create_task(killer())
        await asyncio.gather(*(post(client, body) for body in bodies))
        kill_task.cancel()
    return acknowledged


async def test_sigkill_under_load_then_retry_processes_every_event_once(
    database_url: str,
) -> None:
    bodies, expected = _events()

    # One worker: uvicorn then serves from the process we kill, with no supervisor to
    # keep a child alive on the port.
    with running_server(database_url, workers=1) as server:
        first = await _post_all(server, bodies, kill_after=KILL_AFTER)
        server.process.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL
    unanswered = [b for b in bodies if b["id"] not in first]
    # The kill landed mid-load: some events were acknowledged, many were not.
    assert len(first) >= KILL_AFTER
    assert unanswered

    with running_server(database_url, workers=1) as server:
        # A client retries until it gets an answer: on a loaded machine a request may still
        # time out on the client's side, and its retry is one more round.
        retried: dict[str, int] = {}
        for _ in range(3):
            pending = [b for b in unanswered if b["id"] not in retried]
            if pending:
                retried.update(await _post_all(server, pending, kill_after=None))
        # Every retry succeeds: 201 if the first attempt never committed, 200 (a replay) if
        # it committed but its answer was lost with the connection.
        assert len(retried) == len(unanswered)
        assert set(retried.values()) <= {200, 201}

        async with _client(server) as client:
            for customer, points in expected.items():
                body = (await client.get(f"/v1/customers/{customer}")).json()
                assert body["points"]["lifetime_earned"] == points, customer
                assert body["points"]["available"] == points, customer

    async with connect(database_url) as connection:
        stored = set((await connection.execute(select(Event.id))).scalars())
        assert stored == {b["id"] for b in bodies}
        earn_entries = dict(
            (
                await connection.execute(
                    select(LedgerEntry.event_id, func.count()).group_by(LedgerEntry.event_id)
                )
            ).all()
        )
    purchases = {b["id"] for b in bodies if b["type"] == "purchase"}
    # Exactly one ledger entry per purchase, none for anything else.
    assert earn_entries == dict.fromkeys(purchases, 1)
    assert await ledger_invariant_violations(database_url) == []
