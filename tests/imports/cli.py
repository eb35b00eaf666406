"""Running ``reinforce`` as a shop would: a separate process on the same database."""

import os
import subprocess
import sys

from tests.server import PROJECT_ROOT

# The checkout's own code, wherever the package was installed from.
REINFORCE = [sys.executable, "-c", "from app.cli import main; main()"]


def reinforce(
    database_url: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REINFORCE_DATABASE_URL": database_url, "REINFORCE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [*REINFORCE, *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
