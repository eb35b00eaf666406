"""A real uvicorn process for tests that need several connections, crashes or signals."""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = _free_port()
    api_key = "rk_test_" + secrets.token_urlsafe(24)
    environment = {
        **os.environ,
        "REINFORCE_DATABASE_URL": database_url,
        "REINFORCE_BOOTSTRAP_API_KEY": api_key,
        "REINFORCE_ENVIRONMENT": "test",
        "REINFORCE_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "uvicorn", "app.main:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment)
    server = Server(url=f"http://127.0.0.1:{port}", api_key=api_key, process=process)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 30 s")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
