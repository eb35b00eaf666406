"""Processes the bench starts: uvicorn serving the service or the baseline, a PostgreSQL."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.server import uvicorn_process

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    peak_rss: int = 0
    # The largest single process (a worker): with several workers, the sum above counts
    # the supervisor and every worker.
    peak_process_rss: int = 0
    _sampling: bool = field(default=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def rss(self) -> int:
        """Resident memory of the server: the uvicorn process and its workers."""
        return sum(self.process_rss())

    def process_rss(self) -> list[int]:
        """Resident memory of each of the server's processes."""
        try:
            root = psutil.Process(self.process.pid)
            return [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
        except psutil.Error:
            return []

    @contextmanager
    def sampling_rss(self, every: float = 0.1) -> Iterator[None]:
        """Track the peak RSS while the body runs (the load is on)."""
        self._sampling = True

        def sample() -> None:
            while self._sampling:
                each = self.process_rss()
                self.peak_rss = max(self.peak_rss, sum(each))
                self.peak_process_rss = max(self.peak_process_rss, *each, 0)
                time.sleep(every)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._sampling = False
            thread.join()

    def worker_pids(self) -> list[int]:
        root = psutil.Process(self.process.pid)
        children = root.children(recursive=True)
        return [p.pid for p in children] or [root.pid]


@contextmanager
def uvicorn(
    app: str, *, database_url: str = "", workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Serve ``app`` the way production does: uvicorn with its standard extras."""
    token = "rk_bench_" + secrets.token_urlsafe(24)
    environment = {
        "REINFORCE_DATABASE_URL": database_url or "sqlite+aiosqlite:///var/bench-unused.db",
        "REINFORCE_BOOTSTRAP_API_KEY": token,
        "REINFORCE_ENVIRONMENT": "test",
        "REINFORCE_LOG_LEVEL": "WARNING",
        "REINFORCE_LOG_JSON": "false",
        # The load generator is one client sending far more than a shop's per-key limit:
        # measured with rate limiting on, the bench would time 429 answers.
        "REINFORCE_RATE_LIMIT": "",
        "REINFORCE_SHOPPER_RATE_LIMIT": "",
        **(env or {}),
    }
    with uvicorn_process(
        app,
        env=environment,
        workers=workers,
        extra_args=["--no-access-log"],
        ready_timeout=60,
        stop_timeout=15,
    ) as (process, url):
        yield Server(url=url, token=token, process=process)


def load(
    server: Server,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    path: str = "/v1/events",
    batch: int = 0,
) -> dict[str, Any]:
    """Drive ``server`` from a separate load-generator process; answer its figures."""
    command = [
        sys.executable, "-m", "bench.loadgen", server.url,
        "--token", server.token, "--path", path,
        "--concurrency", str(concurrency), "--duration", str(duration),
        "--warmup", str(warmup), "--batch", str(batch),
    ]  # fmt: skip
    with server.sampling_rss():
        finished = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(finished.stdout)
    result["peak_rss_mb"] = round(server.peak_rss / 2**20, 1)
    result["peak_process_rss_mb"] = round(server.peak_process_rss / 2**20, 1)
    return result


def postgres_bin() -> Path | None:
    installed = sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    candidates = [os.environ.get("PGBIN", ""), *installed]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


@contextmanager
def postgres() -> Iterator[str | None]:
    """A PostgreSQL server URL, or None when there is none to use (or it would not start).

    BENCH_POSTGRES_URL points at an existing server (the bench only creates and drops its
    own databases there); otherwise a throw-away server is started with .ci/postgres.sh, as
    CI does, and always stopped.
    """
    given = os.environ.get("BENCH_POSTGRES_URL")
    if given:
        yield given
        return
    pgbin = postgres_bin()
    if pgbin is None:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="reinforce-bench-pg.")
    script = str(ROOT / ".ci" / "postgres.sh")
    try:
        started = subprocess.run(
            [script, "start", directory],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, "PGBIN": str(pgbin)},
        )
        if started.returncode != 0:
            print(started.stderr, file=sys.stderr)
        yield started.stdout.strip() if started.returncode == 0 else None
    finally:
        subprocess.run([script, "stop", directory], check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
