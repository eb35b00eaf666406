"""A real uvicorn process for tests that need several connections, crashes or signals."""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    url: str
    api_key: str
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn_process(
    app: str,
    *,
    env: dict[str, str],
    workers: int = 1,
    extra_args: Sequence[str] = (),
    ready_timeout: float = 30,
    stop_timeout: float = 10,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``app`` served by uvicorn in its own process, once ``/readyz`` answers 200; stopped
    (terminated, killed if it lingers) afterwards. Yields the process and its base URL.
    The bench serves through this too."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", *extra_args,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{app} exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not become ready in {ready_timeout:.0f} s")
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_server(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    api_key = "rk_test_" + secrets.token_urlsafe(24)
    environment = {
        "REINFORCE_DATABASE_URL": database_url,
        "REINFORCE_BOOTSTRAP_API_KEY": api_key,
        "REINFORCE_ENVIRONMENT": "test",
        "REINFORCE_LOG_LEVEL": "WARNING",
        # These servers take bursts of hundreds of posts from one key (races, crashes): the
        # per-key limit would answer some of them 429, which is not what they test.
        "REINFORCE_RATE_LIMIT": "",
        **(env or {}),
    }
    with uvicorn_process("app.main:app", env=environment, workers=workers) as (process, url):
        yield Server(url=url, api_key=api_key, process=process)
