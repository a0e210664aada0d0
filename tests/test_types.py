"""worker/ passes the type checker: mypy, configured in pyproject.toml's ``[tool.mypy]``, run as a
developer runs it (docs/development.md, "The type check").  Its cache (``.mypy_cache`` in the
checkout) makes a run after a small change a fraction of a cold one."""
from __future__ import annotations

import subprocess
import sys

from worker.config import PROJECT_ROOT


def test_worker_type_checks():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(PROJECT_ROOT / ".mypy_cache"), "worker"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"mypy found errors in worker/:\n{done.stdout}{done.stderr}"
