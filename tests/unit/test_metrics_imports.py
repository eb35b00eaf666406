"""The service starts without numpy and scipy: they are imported for a predictive fit only.

They were most of a worker's memory at startup (about 60 MB of RSS each), and every
worker imports the metrics package because customer reads show the latest prediction.
"""

import subprocess
import sys


def test_the_app_imports_without_numpy_or_scipy() -> None:
    code = "import sys, app.main; print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
