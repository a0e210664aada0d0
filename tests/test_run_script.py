"""`./run`, the README's entry point, on a machine where everything is installed: it goes straight to
the command, as root (no apt-get) and as a user who cannot install anything, every time; without
Chromium the tests still run (the browser tests are skipped, or required under CI=true).

The checks as another user run ``./run`` in a copy of its own beside a stand-in ``.venv`` that
prints what it was asked: the script's decisions are under test there, not the packages, and the
copy sits in a folder that user can reach whatever the checkout's parents allow (a checkout under
/root is private)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from worker.config import PROJECT_ROOT

AS_NOBODY = (shutil.which("setpriv") or "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become another user")


def run_script(*prefix: str) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, str(PROJECT_ROOT / "run"), "demo", "--help"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "HOME": "/tmp"})


def test_run_goes_straight_to_the_command_when_nothing_is_missing():
    for _ in range(8):   # the pipe-based font check misfired 7 times in 8
        res = run_script()
        assert res.returncode == 0, res.stderr
        assert "Build the synthetic district" in res.stdout
        assert "installing" not in res.stdout + res.stderr


@pytest.fixture
def checkout():
    """A copy of ./run with a stand-in .venv whose programs print their arguments, and a PATH of
    the tools the script uses — no Chromium, no apt-get — all readable by any user."""
    folder = Path(tempfile.mkdtemp(prefix="hotline-run-"))
    try:
        for name in ("run", "pyproject.toml", "requirements.lock"):
            shutil.copy2(PROJECT_ROOT / name, folder / name)
        (folder / ".venv" / "bin").mkdir(parents=True)
        for program in ("hotline", "python"):
            stub = folder / ".venv" / "bin" / program
            stub.write_text(f'#!/bin/sh\necho "{program} $*"\n')
            stub.chmod(0o755)
        pick = f"eval \"$(sed -n '/^pick_python() {{/,/^}}/p' {folder / 'run'})\"; pick_python"   # the script's own choice
        python = subprocess.run(["bash", "-c", pick], capture_output=True, text=True, check=True).stdout.strip()
        (folder / ".venv" / ".installed").write_text(python + "\n")
        (folder / "bin").mkdir()
        for tool in ("bash", "env", "dirname", "id", "cat", "fc-match", "pdftoppm"):
            (folder / "bin" / tool).symlink_to(shutil.which(tool))
        subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
        yield folder
    finally:
        shutil.rmtree(folder)


def in_checkout(folder: Path, *args: str, prefix=(), **env) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, str(folder / "run"), *args], cwd="/", capture_output=True, text=True, timeout=120,
                          check=False, env={"PATH": str(folder / "bin"), "HOME": "/tmp", **env})


@needs_root
def test_run_as_a_user_who_cannot_install_goes_straight_to_the_demo(checkout):
    for _ in range(8):
        res = in_checkout(checkout, "demo", "--help", prefix=AS_NOBODY)
        assert res.returncode == 0, res.stderr
        assert "missing system packages" not in res.stderr
        assert res.stdout == "hotline demo --help\n"


@needs_root
def test_the_tests_run_without_chromium_and_say_the_browser_tests_are_skipped(checkout):
    res = in_checkout(checkout, "test", "-q", prefix=AS_NOBODY)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "python -m worker.fonts\npython -m pytest -n auto --dist loadgroup -q\n"
    assert "no Chromium: the browser tests will be skipped" in res.stderr
    required = in_checkout(checkout, "test", "-q", prefix=AS_NOBODY, CI="true")
    assert required.returncode == 0, required.stderr
    assert "the browser tests will fail (CI=true requires them)" in required.stderr


def test_root_without_apt_get_runs_the_tests_without_chromium(checkout):
    res = in_checkout(checkout, "test", "-x")
    assert res.returncode == 0, res.stderr
    assert "installing" not in res.stdout + res.stderr
    assert res.stdout == "python -m worker.fonts\npython -m pytest -n auto --dist loadgroup -x\n"


def test_hotline_passes_through_to_the_checkouts_command(checkout):
    res = in_checkout(checkout, "hotline", "doctor", "--json")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hotline doctor --json\n"
    real = subprocess.run([str(PROJECT_ROOT / "run"), "hotline", "--help"], cwd="/", capture_output=True, text=True,
                          timeout=120, check=False)
    assert real.returncode == 0, real.stderr
    assert "demo" in real.stdout and "doctor" in real.stdout
