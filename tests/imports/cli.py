"""Running ``reinforce`` as a shop would: a separate process on the same database."""

import os
import subprocess
import sys
from pathlib import Path

from tests.server import PROJECT_ROOT

REINFORCE = str(Path(sys.executable).parent / "reinforce")


def reinforce(
    database_url: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REINFORCE_DATABASE_URL": database_url, "REINFORCE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [REINFORCE, *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
