"""The command line: `reinforce keys list` and `keys revoke`; `serve` honouring PORT and HOST."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.conftest import make_settings
from tests.server import PROJECT_ROOT, free_port

REINFORCE = str(Path(sys.executable).parent / "reinforce")


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REINFORCE_DATABASE_URL": database_url, "REINFORCE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [REINFORCE, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A key revoked by another process reaches a server within its key cache's lifetime
    # (REINFORCE_API_KEY_CACHE_SECONDS); this server keeps none, so it is refused at once.
    return make_settings(database_url, api_key_cache_seconds=0)


async def test_keys_list_and_revoke(database_url: str, client: httpx.AsyncClient) -> None:
    created = run(database_url, "keys", "create", "--name", "shop", "--scopes", "customers:read")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/customers", headers=headers)).status_code == 200

    listed = run(database_url, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [key] = json.loads(listed.stdout)
    assert (key["name"], key["scopes"], key["revoked_at"]) == ("shop", ["customers:read"], None)
    assert secret.startswith(key["prefix"])
    assert secret not in listed.stdout

    revoked = run(database_url, "keys", "revoke", key["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert (await client.get("/v1/customers", headers=headers)).status_code == 401
    again = run(database_url, "keys", "revoke", key["id"])
    assert again.returncode == 0, again.stderr
    [key] = json.loads(run(database_url, "keys", "list", "--json").stdout)
    assert key["revoked_at"] is not None
    plain = run(database_url, "keys", "list").stdout
    assert key["id"] in plain
    assert "revoked" in plain

    unknown = run(database_url, "keys", "revoke", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 1
    assert "does not exist" in unknown.stderr
    assert run(database_url, "keys", "revoke", "not-a-uuid").returncode == 2


def test_serve_honours_port_and_host(sync_empty_database_url: str) -> None:
    assert run(sync_empty_database_url, "migrate").returncode == 0
    port = free_port()
    env = {
        **os.environ,
        "REINFORCE_DATABASE_URL": sync_empty_database_url,
        "REINFORCE_LOG_LEVEL": "WARNING",
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    process = subprocess.Popen([REINFORCE, "serve"], env=env, cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "reinforce serve exited"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"nothing answers on port {port}"
                time.sleep(0.1)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
