"""worker/ passes the type checker: mypy, configured in pyproject.toml's ``[tool.mypy]``, run as a
developer runs it (docs/development.md, "The type check").  Its cache (``.mypy_cache`` in the
checkout) makes a run after a small change a fraction of a cold one; a checkout the test cannot
write to gets a cache of the test's own."""
from __future__ import annotations

import os
import subprocess
import sys

from worker.config import PROJECT_ROOT


def test_worker_type_checks(tmp_path):
    cache = PROJECT_ROOT / ".mypy_cache" if os.access(PROJECT_ROOT, os.W_OK) else tmp_path / "mypy_cache"
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), "worker"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"mypy found errors in worker/:\n{done.stdout}{done.stderr}"
