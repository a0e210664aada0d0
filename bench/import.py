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
- ``store``: what storing the import's result costs the database alone — the rows the first
  ``ours`` round left (tickets, events, assignments, clock rows, per-day rollup, analysis queue),
  dumped once, then loaded into a fresh schema (its indexes and foreign keys, which the reports
  read and the guarantees need) by ``COPY … FROM STDIN`` of the dumped text on PostgreSQL, by
  ``executemany`` of the read rows on SQLite, in one transaction: no parsing, validation or
  derivation at all.  Any import into this schema costs at least this.
Rounds are interleaved; the figures are min / median / max event rows per second.
Target (issue 21): ours ≥ 1/3 of COPY on PostgreSQL, ≥ 1/3 of the bare executemany on SQLite.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
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


def schema(url: str, tree: Path = ROOT) -> dict:
    """A fresh database given the schema and the directory, as `hotline import` finds it; the environment."""
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, "-m", "worker.cli", "init-db"], env=env, cwd=tree, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "worker.cli", "directory", "load", str(tree / "db" / "seed" / "district.yaml")],
                   env=env, cwd=tree, check=True, capture_output=True)
    return env


def ours(url: str, export: Path, tree: Path = ROOT) -> float:
    """`hotline import` of TREE's code (another checkout, to compare releases), in its own process."""
    env = schema(url, tree)
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


RESULT_TABLES = ("tickets", "ticket_events", "assignments", "assignment_clocks", "clock_days", "analysis_queue")

DUMP_CHILD = r'''
import sys, psycopg
url, folder = sys.argv[1], sys.argv[2]
with psycopg.connect(url) as conn, conn.cursor() as cur:
    for table in sys.argv[3:]:
        with cur.copy(f"COPY {table} TO STDOUT") as copy, open(f"{folder}/{table}.copy", "wb") as out:
            for chunk in copy:
                out.write(chunk)
'''

STORE_CHILD = r'''
import sys, time, psycopg
url, folder = sys.argv[1], sys.argv[2]
dumps = {table: open(f"{folder}/{table}.copy", "rb").read() for table in sys.argv[3:]}
with psycopg.connect(url) as conn, conn.cursor() as cur:
    started = time.perf_counter()
    for table, data in dumps.items():
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            copy.write(data)
    conn.commit()
print(time.perf_counter() - started)
'''

STORE_SQLITE_CHILD = r'''
import sqlite3, sys, time
path, source = sys.argv[1], sys.argv[2]
with sqlite3.connect(source) as src:
    rows = {table: src.execute(f"SELECT * FROM {table}").fetchall() for table in sys.argv[3:]}
conn = sqlite3.connect(path)
started = time.perf_counter()
with conn:
    for table, values in rows.items():
        if values:
            conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values[0]))})", values)
print(time.perf_counter() - started)
'''


def keep_result(url: str, folder: Path) -> None:
    """Keep what an import left, for ``store``: the tables dumped as COPY text, or the SQLite file."""
    if url.startswith("sqlite:///"):
        shutil.copyfile(url.removeprefix("sqlite:///"), folder / "result.db")
    else:
        subprocess.run([sys.executable, "-c", DUMP_CHILD, url, str(folder), *RESULT_TABLES], check=True)


def store(url: str, folder: Path, tree: Path = ROOT) -> float:
    """The database's own cost of the import's result, in its own process (see the module's docstring);
    the schema is TREE's, the one that import left its rows in."""
    schema(url, tree)
    if url.startswith("sqlite:///"):
        child, args = STORE_SQLITE_CHILD, [url.removeprefix("sqlite:///"), str(folder / "result.db")]
    else:
        child, args = STORE_CHILD, [url, str(folder)]
    out = subprocess.run([sys.executable, "-c", child, *args, *RESULT_TABLES], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def copy(url: str, export: Path) -> float:
    """The floor, in its own process: COPY on PostgreSQL, executemany on SQLite."""
    if url.startswith("sqlite:///"):
        child, target = EXECUTEMANY_CHILD, url.removeprefix("sqlite:///")
    else:
        child, target = COPY_CHILD, url
    out = subprocess.run([sys.executable, "-c", child, target, str(export)], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def synthetic_export(folder: Path, tickets: int) -> tuple[Path, int, int]:
    """(file, tickets a day, event rows) of the synthetic district's export of about TICKETS tickets
    over 120 days from 1 June 2026, the same for every side and every script that compares them."""
    from worker.calendar import load_calendar
    from worker.demo_data import Generator, write_export

    export = folder / "export.csv"
    per_day = max(1, tickets // 120)
    start = date(2026, 6, 1)
    write_export(export, Generator(load_calendar(), seed=21, per_day=per_day).tickets(
        start, start + timedelta(days=119), datetime(2026, 11, 1)))
    with export.open(encoding="utf-8", newline="") as fh:
        return export, per_day, sum(1 for _ in csv.reader(fh)) - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose import is timed (default: this one)")
    ap.add_argument("--admin", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"))
    ap.add_argument("--sqlite", action="store_true", help="the embedded default, against a bare executemany")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        export, per_day, rows = synthetic_export(Path(folder), args.tickets)
        seconds: dict[str, list[float]] = {"ours": [], "copy": [], "store": []}
        for _ in range(args.rounds):
            for name, times in seconds.items():
                if args.sqlite:
                    db = Path(folder) / f"{name}.db"
                    db.unlink(missing_ok=True)
                    url = f"sqlite:///{db}"
                else:
                    db, url = fresh_database(args.admin)
                try:
                    if name == "ours":
                        times.append(ours(url, export, args.tree))
                        if not seconds["store"]:
                            keep_result(url, Path(folder))
                    else:
                        times.append(copy(url, export) if name == "copy" else store(url, Path(folder), args.tree))
                finally:
                    if not args.sqlite:
                        drop_database(args.admin, db)
    rates = {name: sorted(rows / s for s in values) for name, values in seconds.items()}
    print(f"{per_day * 120:,} tickets, {rows:,} event rows; {args.rounds} interleaved rounds, each in a fresh database")
    floor = "executemany into a table" if args.sqlite else "COPY into a staging table"
    labels = {"ours": "hotline import", "copy": floor, "store": "its result, stored alone"}
    print(f"{'event rows/s':<28} {'min':>10} {'median':>10} {'max':>10}")
    for name, values in rates.items():
        print(f"{labels[name]:<28} {values[0]:>10,.0f} {statistics.median(values):>10,.0f} {values[-1]:>10,.0f}")
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"ours / {floor.split()[0]}: 1/{median['copy'] / median['ours']:.1f} (target ≥ 1/3)")
    print(f"the result stored alone / {floor.split()[0]}: 1/{median['copy'] / median['store']:.1f} — no import into "
          f"this schema can beat it; ours / the result stored alone: 1/{median['store'] / median['ours']:.1f}")
    print(json.dumps({"rows": rows, "seconds": seconds}))


if __name__ == "__main__":
    main()
