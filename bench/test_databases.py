"""A test's database, the two ways: migrated for the test, or copied from a template migrated once.

    .venv/bin/python bench/test_databases.py [--rounds 9] [--backends sqlite,postgres]

What ``tests/conftest.py`` gives every test that takes ``db``, ``sqlite_db`` or ``postgres_db``: a
database at the newest migration with the sample directory (``db/seed/district.yaml``) loaded, and
what it costs to throw it away after the test.
- ``migrate``: the way the suite worked until issue 34 — a new database (an empty SQLite file; a
  ``CREATE DATABASE``), ``init_db()`` (Alembic upgrade to head), the directory loaded; dropped after.
- ``template``: the way it works now — a copy of a template made once per run (``shutil.copyfile``
  of the SQLite file; ``CREATE DATABASE … TEMPLATE``); dropped after.  The suite makes the next
  PostgreSQL copy and drops the last one in a thread beside the tests, so its wall clock pays less
  than this figure when a test runs for longer than a copy takes.
Rounds alternate the two sides (ABAB…), each side timed in its own fresh child process (imports
not counted), so a load that comes and goes on a shared machine falls on both; min / median / max.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

CHILD = r"""
import json, os, shutil, sys, time, uuid
from pathlib import Path
backend, side, template, folder = sys.argv[1:5]
import psycopg
from worker.config import PROJECT_ROOT
from worker import db
from worker.directory import load_directory

def admin(sql):
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)

ADMIN = os.environ["BENCH_PG_ADMIN"]
began = time.perf_counter()
if backend == "sqlite":
    path = Path(folder) / f"{uuid.uuid4().hex}.db"
    url = f"sqlite:///{path}"
    if side == "template":
        shutil.copyfile(template, path)
else:
    name = f"bench_db_{uuid.uuid4().hex[:8]}"
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if side == "template" else ""))
if side == "migrate":
    db.init_db(url)
    with db.session_scope(url) as s:
        load_directory(s, PROJECT_ROOT / "db" / "seed" / "district.yaml")
    db.get_engine(url).dispose()
ready = time.perf_counter()
if backend == "sqlite":
    path.unlink()
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
else:
    admin(f'DROP DATABASE "{name}" WITH (FORCE)')
print(json.dumps({"ready": ready - began, "total": time.perf_counter() - began}))
"""


def make_template(backend: str, folder: Path) -> str:
    env = dict(os.environ, BENCH_PG_ADMIN=PG_ADMIN)
    code = ("import sys, psycopg; from worker import db; from worker.config import PROJECT_ROOT; "
            "from worker.directory import load_directory\n"
            "url = sys.argv[1]\n"
            "db.init_db(url)\n"
            "with db.session_scope(url) as s: load_directory(s, PROJECT_ROOT / 'db' / 'seed' / 'district.yaml')\n"
            "db.get_engine(url).dispose()\n")
    if backend == "sqlite":
        path = folder / "template.db"
        subprocess.run([sys.executable, "-c", code, f"sqlite:///{path}"], cwd=ROOT, env=env, check=True)
        return str(path)
    import psycopg
    name = f"bench_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "-c", code, PG_ADMIN.rsplit("/", 1)[0] + "/" + name], cwd=ROOT, env=env, check=True)
    return name


def drop_template(backend: str, template: str) -> None:
    if backend == "postgres":
        import psycopg
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    env = dict(os.environ, BENCH_PG_ADMIN=PG_ADMIN)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; {args.rounds} rounds, sides alternating")
    print(f"{'backend':<9} {'side':<9} {'ready (ms) min / median / max':>32} {'with the drop (ms) min / median / max':>40}")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            template = make_template(backend, Path(tmp))
            figures: dict[str, list[dict]] = {"migrate": [], "template": []}
            try:
                for _ in range(args.rounds):
                    for side, runs in figures.items():
                        out = subprocess.run([sys.executable, "-c", CHILD, backend, side, template, tmp], cwd=ROOT,
                                             env=env, capture_output=True, text=True, check=True).stdout
                        runs.append(json.loads(out))
            finally:
                drop_template(backend, template)
            for side, runs in figures.items():
                ready = sorted(r["ready"] * 1000 for r in runs)
                total = sorted(r["total"] * 1000 for r in runs)
                print(f"{backend:<9} {side:<9} {ready[0]:>12.0f} / {statistics.median(ready):>6.0f} / {ready[-1]:>6.0f}"
                      f"   {total[0]:>16.0f} / {statistics.median(total):>6.0f} / {total[-1]:>6.0f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"({time.time() - started:.0f} s)")
