"""Every runnable `sh` example of the README, run in order against a live server.

The examples address `http://127.0.0.1:8000` and `.venv/bin/reinforce`, as a reader who
ran `make run` would; here they are pointed at a server on a free port, on a fresh
database, and at the running interpreter's scripts. `curl` fails on any error status, so
an example that answers a problem fails the test, naming its line in the README.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.readme import readme_examples, runnable_examples
from tests.server import PROJECT_ROOT, running_server

README = PROJECT_ROOT / "README.md"
BIN = Path(sys.executable).parent

PRELUDE = """set -euo pipefail
curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }
"""


def script(base_url: str) -> str:
    parts = [PRELUDE]
    for example in readme_examples(README):
        code = example.code.replace("http://127.0.0.1:8000", base_url)
        code = code.replace(".venv/bin/", f"{BIN}/")
        parts.append(f"echo {shlex.quote(f'### README line {example.line}')} >&2\n{code}\n")
    return "\n".join(parts)


def test_the_extractor_takes_only_marked_sh_blocks() -> None:
    text = "\n".join(
        [
            "```sh",
            "make run",
            "```",
            "<!-- runnable -->",
            "```sh",
            "echo one",
            "```",
            "  <!-- runnable -->",
            "  ```sh",
            "  echo two",
            "  ```",
        ]
    )
    examples = runnable_examples(text)
    assert [(e.line, e.code) for e in examples] == [(5, "echo one"), (9, "echo two")]
    with pytest.raises(ValueError, match="must precede"):
        runnable_examples("<!-- runnable -->\n```json\n{}\n```")
    assert len(readme_examples(README)) >= 10


def test_the_readme_examples_run_as_written(database_url: str) -> None:
    env = {"REINFORCE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    with running_server(database_url, env=env) as server:
        result = subprocess.run(
            ["bash", "-c", script(server.url)],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "REINFORCE_DATABASE_URL": database_url,
                "REINFORCE_LOG_LEVEL": "WARNING",
            },
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-4000:]
        # What the examples did is there: alice's purchase, redemption and profile, bob erased.
        headers = server.headers
        alice = httpx.get(f"{server.url}/v1/customers/alice", headers=headers).json()
        assert alice["profile"]["display_name"] == "Alice"
        assert alice["points"]["redeemed"] == 40
        stored = httpx.get(f"{server.url}/v1/events/evt-1001", headers=headers)
        assert stored.json()["answer"]["event_id"] == "evt-1001"
        assert httpx.get(f"{server.url}/v1/customers/bob", headers=headers).status_code == 404
