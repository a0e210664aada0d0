"""`hotline import` against the bulk load of the same rows, each in its own process.

    .venv/bin/python bench/import.py [--tickets 20000] [--rounds 3] [--admin postgresql://postgres@127.0.0.1/postgres]
    .venv/bin/python bench/import.py --sqlite [--tickets 20000] [--rounds 3]

One export of the synthetic district (CSV, the platform's Chinese headers) is written once; each
round then, in a fresh database each time and in its own process:
- ``ours``: `hotline import FILE` (parsing, validation, identity and corrections, the derived
  assignments, clock rows and per-day rollup, ANALYZE at the end of a bulk load);
- ``copy``: the floor a competent engineer would compare with — psycopg's ``COPY … FROM STDIN`` of
  the same file's rows into a staging table of text columns of the same shape, nothing derived;
  with ``--sqlite`` (the embedded default: a fresh database file each round) the floor is the
  bare ``executemany`` of those rows into such a table, in one transaction.
Rounds are interleaved; the figures are min / median / max event rows per second.
Target (issue 21): ours ≥ 1/3 of COPY on PostgreSQL, ≥ 1/3 of the bare executemany on SQLite.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_database(admin: str) -> tuple[str, str]:
    import psycopg

    name = f"hotline_bench_import_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin.rsplit("/", 1)[0] + "/" + name


def drop_database(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ours(url: str, export: Path, tree: Path = ROOT) -> float:
    """`hotline import` of TREE's code (another checkout, to compare releases), in its own process."""
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, "-m", "worker.cli", "init-db"], env=env, cwd=tree, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "worker.cli", "directory", "load", str(tree / "db" / "seed" / "district.yaml")],
                   env=env, cwd=tree, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "worker.cli", "import", str(export)], env=env, cwd=tree, check=True,
                   capture_output=True)
    return time.perf_counter() - started


COPY_CHILD = r'''
import csv, sys, time, psycopg
url, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8", newline="") as fh:
    reader = csv.reader(fh)
    header = next(reader)
    with psycopg.connect(url) as conn:
        columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
        conn.execute(f"CREATE TABLE staging ({columns})")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY staging FROM STDIN") as copy:
            for row in reader:
                copy.write_row(row)
        conn.commit()
print(time.perf_counter() - started)
'''


EXECUTEMANY_CHILD = r'''
import csv, sqlite3, sys, time
path, export = sys.argv[1], sys.argv[2]
with open(export, encoding="utf-8", newline="") as fh:
    reader = csv.reader(fh)
    header = next(reader)
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE staging ({', '.join(f'c{i} text' for i in range(len(header)))})")
    started = time.perf_counter()
    with conn:
        conn.executemany(f"INSERT INTO staging VALUES ({', '.join('?' * len(header))})", reader)
print(time.perf_counter() - started)
'''


def copy(url: str, export: Path) -> float:
    """The floor, in its own process: COPY on PostgreSQL, executemany on SQLite."""
    if url.startswith("sqlite:///"):
        child, target = EXECUTEMANY_CHILD, url.removeprefix("sqlite:///")
    else:
        child, target = COPY_CHILD, url
    out = subprocess.run([sys.executable, "-c", child, target, str(export)], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose import is timed (default: this one)")
    ap.add_argument("--admin", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"))
    ap.add_argument("--sqlite", action="store_true", help="the embedded default, against a bare executemany")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from worker.calendar import load_calendar
    from worker.demo_data import Generator, write_export

    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.csv"
        per_day = max(1, args.tickets // 120)
        start = date(2026, 6, 1)
        write_export(export, Generator(load_calendar(), seed=21, per_day=per_day).tickets(
            start, start + timedelta(days=119), datetime(2026, 11, 1)))
        with export.open(encoding="utf-8", newline="") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        seconds: dict[str, list[float]] = {"ours": [], "copy": []}
        for _ in range(args.rounds):
            for name, times in seconds.items():
                if args.sqlite:
                    db = Path(folder) / f"{name}.db"
                    db.unlink(missing_ok=True)
                    url = f"sqlite:///{db}"
                else:
                    db, url = fresh_database(args.admin)
                try:
                    times.append(ours(url, export, args.tree) if name == "ours" else copy(url, export))
                finally:
                    if not args.sqlite:
                        drop_database(args.admin, db)
    rates = {name: sorted(rows / s for s in values) for name, values in seconds.items()}
    print(f"{per_day * 120:,} tickets, {rows:,} event rows; {args.rounds} interleaved rounds, each in a fresh database")
    print(f"{'event rows/s':<28} {'min':>10} {'median':>10} {'max':>10}")
    floor = "executemany into a table" if args.sqlite else "COPY into a staging table"
    for name, values in rates.items():
        label = "hotline import" if name == "ours" else floor
        print(f"{label:<28} {values[0]:>10,.0f} {statistics.median(values):>10,.0f} {values[-1]:>10,.0f}")
    ratio = statistics.median(rates["ours"]) / statistics.median(rates["copy"])
    print(f"ours / {floor.split()[0]}: 1/{1 / ratio:.0f} (target ≥ 1/3)")
    print(json.dumps({"rows": rows, "seconds": seconds}))


if __name__ == "__main__":
    main()
