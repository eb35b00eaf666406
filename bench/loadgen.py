"""The load generator, run in its own process: ``python -m bench.loadgen URL ...``.

An asyncio client on aiohttp: a fixed number of connections, each posting a fresh event
as soon as its previous answer arrives (a closed loop), for a fixed time after a warm-up.
It prints one JSON object with the counts and the latency of every measured request.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

CUSTOMERS = 10_000


class Events:
    """Unique, valid purchase events, spread over a fixed pool of customers."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.count = 0
        self.now = datetime.now(UTC).isoformat()

    def next(self) -> dict[str, Any]:
        self.count += 1
        n = self.count
        return {
            "id": f"bench-{self.run}-{n}",
            "type": "purchase",
            "customer_id": f"cust-{n * 7919 % CUSTOMERS}",
            "occurred_at": self.now,
            "channel": "web",
            "data": {
                "order_id": f"ord-{self.run}-{n}",
                "amount": f"{10 + n % 190}.{n % 100:02d}",
                "currency": "EUR",
            },
        }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    events = Events()
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    url = args.url.rstrip("/") + args.path
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    measuring = False
    stop = False
    window_start = float("inf")
    last_completion = [0.0]

    def body() -> bytes:
        if args.batch:
            return json.dumps({"events": [events.next() for _ in range(args.batch)]}).encode()
        return json.dumps(events.next()).encode()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not stop:
            await asyncio.sleep(0)
            payload = body()
            started = time.perf_counter()
            try:
                async with session.post(url, data=payload, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                errors += 1
                await asyncio.sleep(0.01)
                continue
            # A request started in the window counts even if it ends after it (a 500-event
            # batch can take longer than the window); the window then ends with it.
            if measuring and started >= window_start:
                finished = time.perf_counter()
                last_completion[0] = max(last_completion[0], finished)
                latencies.append(finished - started)
                statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(worker(session)) for _ in range(args.concurrency)]
        await asyncio.sleep(args.warmup)
        window_start = time.perf_counter()
        measuring = True
        await asyncio.sleep(args.duration)
        stop = True
        await asyncio.gather(*tasks)
        elapsed = max(last_completion[0], window_start + args.duration) - window_start
    latencies.sort()
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)

    def quantile(q: float) -> float | None:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
            if latencies
            else None
        )

    per_request = args.batch or 1
    return {
        "concurrency": args.concurrency,
        "duration_s": round(elapsed, 3),
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "transport_errors": errors,
        "events_per_s": round(ok * per_request / elapsed, 1),
        "requests_per_s": round(ok / elapsed, 1),
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--token", default="")
    parser.add_argument("--path", default="/v1/events")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--batch", type=int, default=0, help="events per request (batch endpoint)")
    result = asyncio.run(_run(parser.parse_args()))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
