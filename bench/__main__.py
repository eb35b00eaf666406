"""``python -m bench`` (``make bench``): measure, compare with the targets, write the results.

Environment knobs (defaults are what bench/README.md's figures were taken with):
BENCH_DURATION (s per load run, 20), BENCH_CONCURRENCY (32), BENCH_HISTORY_EVENTS
(1000000, 0 to skip), BENCH_POSTGRES (auto | off), BENCH_POSTGRES_URL (use this server).
"""

import asyncio
import json
import os
import platform
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations import upgrade
from bench import dashboard, floor, history, reads, rules, servers
from bench.report import render

ROOT = servers.ROOT
RESULTS = ROOT / "bench" / "results"
WORKDIR = ROOT / "var" / "bench"

DURATION = float(os.environ.get("BENCH_DURATION", "20"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
WARMUP = min(3.0, DURATION / 5)
BATCH_SIZE = 1000
HISTORY_EVENTS = int(os.environ.get("BENCH_HISTORY_EVENTS", "1000000"))


def say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --------------------------------------------------------------------------- databases


@contextmanager
def sqlite_database(name: str) -> Iterator[str]:
    """A fresh, migrated SQLite file under var/bench/."""
    WORKDIR.mkdir(parents=True, exist_ok=True)
    path = WORKDIR / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    try:
        yield url
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh, migrated database on ``server_url``, dropped afterwards."""
    database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{database}"'))
    url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


# --------------------------------------------------------------------------- parts


def ingest(database_url: str, workers: int) -> dict[str, Any]:
    with servers.uvicorn("app.main:app", database_url=database_url, workers=workers) as server:
        ruleset = rules.install_starter_rules(server.url, server.headers)
        say(f"ingest: {workers} worker(s), {ruleset}, {CONCURRENCY} clients, {DURATION:.0f} s")
        result = servers.load(server, concurrency=CONCURRENCY, duration=DURATION, warmup=WARMUP)
    result["workers"] = workers
    result["ruleset"] = ruleset
    return result


def baseline() -> dict[str, Any]:
    say(f"baseline: bare FastAPI + EventIn, {CONCURRENCY} clients, {DURATION:.0f} s")
    with servers.uvicorn("bench.baseline:app") as server:
        return servers.load(server, concurrency=CONCURRENCY, duration=DURATION, warmup=WARMUP)


def batch(database_url: str, workers: int) -> dict[str, Any]:
    say(f"batch: {BATCH_SIZE} events per request, 2 clients")
    with servers.uvicorn("app.main:app", database_url=database_url, workers=workers) as server:
        result = servers.load(
            server,
            concurrency=2,
            duration=max(DURATION / 2, 5),
            # No warm-up: a batch started in it would be counted without its start.
            warmup=0,
            path="/v1/events/batch",
            batch=BATCH_SIZE,
        )
    result["workers"] = workers
    return result


_generated: list[tuple[history.History, float]] = []


def _history() -> tuple[history.History, float]:
    """Generated once per run and written to each database."""
    if not _generated:
        say(f"history: generating {HISTORY_EVENTS:,} events")
        started = time.perf_counter()
        generated = history.generate(events=HISTORY_EVENTS, customers=HISTORY_EVENTS // 10)
        _generated.append((generated, time.perf_counter() - started))
    return _generated[0]


def read_side(database_url: str, workers: int) -> dict[str, Any]:
    generated, generate_s = _history()
    started = time.perf_counter()
    history.write(database_url, generated)
    insert_s = time.perf_counter() - started
    say(f"history: generated in {generate_s:.1f} s, inserted in {insert_s:.1f} s")
    customers = len(generated.customers)
    with servers.uvicorn("app.main:app", database_url=database_url, workers=workers) as server:
        timings = reads.time_reads(server, customers)
        timings["leaderboards"] = reads.time_leaderboard_reads(server, customers)
        timings["metrics"] = reads.time_metric_endpoints(server)
        timings["segments"] = reads.time_segment_counts(server)
        timings["dashboard"] = dashboard.time_overview(server)
    return {
        "events": HISTORY_EVENTS,
        "customers": customers,
        "generate_s": round(generate_s, 1),
        "insert_s": round(insert_s, 1),
        **timings,
    }


def on_sqlite(results: dict[str, Any]) -> None:
    say(f"floor: the rows of {floor.EVENTS:,} ingests straight through sqlite3")
    WORKDIR.mkdir(parents=True, exist_ok=True)
    results["floor_sqlite"] = floor.run(WORKDIR)
    with sqlite_database("ingest") as url:
        results["ingest_sqlite"] = ingest(url, workers=1)
    results["baseline"] = baseline()
    with sqlite_database("batch") as url:
        results["batch_sqlite"] = batch(url, workers=1)
    if HISTORY_EVENTS:
        with sqlite_database("history") as url:
            results["history_sqlite"] = read_side(url, workers=1)


def on_postgres(results: dict[str, Any]) -> None:
    if os.environ.get("BENCH_POSTGRES", "auto") == "off":
        results["postgres"] = "skipped: BENCH_POSTGRES=off"
        return
    say("postgres: starting a throw-away server (.ci/postgres.sh)")
    with servers.postgres() as server_url:
        if server_url is None:
            results["postgres"] = (
                "skipped: no PostgreSQL found or it did not start (see PGBIN, BENCH_POSTGRES_URL)"
            )
            say(results["postgres"])
            return
        results["postgres"] = "ran"
        with postgres_database(server_url, "ingest") as url:
            results["ingest_postgres_1"] = ingest(url, workers=1)
        with postgres_database(server_url, "ingest") as url:
            results["ingest_postgres"] = ingest(url, workers=2)
        with postgres_database(server_url, "batch") as url:
            results["batch_postgres"] = batch(url, workers=2)
        if HISTORY_EVENTS:
            with postgres_database(server_url, "history") as url:
                results["history_postgres"] = read_side(url, workers=2)


def main() -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_generator": "bench.loadgen (aiohttp, separate process, closed loop)",
        "starter_rules": rules.starter_rules()[0],
    }
    say("rules: 50 rules in-process, reinforce vs rule-engine")
    results["rules"] = rules.run()
    failed: BaseException | None = None
    try:
        on_sqlite(results)
        on_postgres(results)
    except Exception as exc:  # the figures so far are still worth printing
        failed = exc
        results["error"] = repr(exc)
    finally:
        results["elapsed_s"] = round(time.perf_counter() - started, 1)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
        shutil.rmtree(WORKDIR, ignore_errors=True)
    print(render(results))
    if failed is not None:
        raise SystemExit(f"bench failed: {failed!r}")


if __name__ == "__main__":
    main()
