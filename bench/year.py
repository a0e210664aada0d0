"""The synthetic year in PostgreSQL: generate and import, then time the period queries.

    .venv/bin/python bench/year.py --database postgresql://postgres@127.0.0.1/hotline_bench \\
        [--tickets 2000000] [--skip-import]

1. Generation and import (streamed, batches of 5,000 rows): rows/s and the process's peak memory.
2. For the busiest week, weekly metrics of all units; a month's metrics with its trend; the daily
   detections — each next to (a) ``SELECT count(*)`` with the same period filter (the floor) and
   (b) loading the period's assignments through the ORM and aggregating in Python.
Targets (issue 4): within 3× the floor, ≥ 20× faster than (b), peak memory < 500 MB.
The database is created if missing and dropped only with --drop.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')


def timed(fn, repeat=3):
    fn()
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best or 1e9, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", required=True)
    ap.add_argument("--tickets", type=int, default=2_000_000)
    ap.add_argument("--skip-import", action="store_true")
    args = ap.parse_args()
    os.environ["DATABASE_URL"] = args.database
    ensure_database(args.database)
    from sqlalchemy import and_, func, or_, select

    from worker.calendar import load_calendar
    from worker.config import PROJECT_ROOT
    from worker.db import init_db, session_factory, session_scope
    from worker.demo_data import Generator, write_export
    from worker.detection import counts_by_unit, overdue_open, warning_horizon
    from worker.directory import load_directory
    from worker.importer import import_file
    from worker.metrics import compute, trend
    from worker.models import Assignment, Unit
    from worker.periods import containing
    from worker.rules import load_rules

    init_db()
    cal, rules = load_calendar(), load_rules()
    start = date(2025, 1, 1)
    per_day = max(1, args.tickets // 365)
    if not args.skip_import:
        with session_scope() as s:
            load_directory(s, PROJECT_ROOT / "db" / "seed" / "district.yaml")
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "year.csv"
            t = time.perf_counter()
            n = write_export(export, Generator(cal, seed=2025, per_day=per_day).tickets(
                start, start + timedelta(days=364), datetime(2026, 1, 10)))
            gen = time.perf_counter() - t
            t = time.perf_counter()
            report = import_file(session_factory(), export, cal, rules, batch_size=5000)
            imp = time.perf_counter() - t
        print(f"generated {n:,} tickets in {gen:.0f} s; imported {report.rows:,} event rows in {imp:.0f} s "
              f"= {report.rows / imp:,.0f} rows/s ({report.tickets_new:,} tickets); peak memory {peak_mb():.0f} MB")
    week = containing("week", date(2025, 6, 11))
    month = containing("month", date(2025, 6, 11))
    as_of = datetime(2025, 6, 11, 8, 30)

    def floor(p):
        with session_scope() as s:
            s.scalar(select(func.count()).select_from(Assignment).where(
                Assignment.dispatched_at >= p.start_at, Assignment.dispatched_at < p.end_at))

    def orm(p):
        """What a quick script does: load the period's rows as objects, count in Python."""
        with session_scope() as s:
            rows = s.scalars(select(Assignment).where(or_(
                and_(Assignment.dispatched_at >= p.start_at, Assignment.dispatched_at < p.end_at),
                and_(Assignment.callback_at >= p.start_at, Assignment.callback_at < p.end_at)))).all()
            units = {u.code: {"v": 0, "s": 0, "e": 0} for u in s.scalars(select(Unit))}
            for a in rows:
                u = units.setdefault(a.unit_code, {"v": 0, "s": 0, "e": 0})
                if p.start_at <= a.dispatched_at < p.end_at and a.returned_in_window is not True:
                    u["v"] += 1
                if a.callback_at and p.start_at <= a.callback_at < p.end_at and a.satisfaction:
                    u["e"] += 1
                    u["s"] += a.satisfaction != "unsatisfied"

    def ours_week():
        with session_scope() as s:
            compute(s, week)

    def ours_month():
        with session_scope() as s:
            trend(s, month, 3)

    def detections():
        with session_scope() as s:
            horizon = warning_horizon(cal, as_of)
            counts_by_unit(s, as_of, as_of - timedelta(days=1), horizon)
            overdue_open(s, as_of)

    with session_scope() as s:
        total = s.scalar(select(func.count()).select_from(Assignment))
    print(f"assignments in the database: {total:,}")
    for label, fn, p in (("weekly metrics, all units", ours_week, week),
                         ("monthly metrics + 2 months of trend", ours_month, month),
                         ("daily detections (counts + overdue list)", detections, containing("day", as_of))):
        ours = timed(fn)
        fl = timed(lambda p=p: floor(p))
        slow = timed(lambda p=p: orm(p), repeat=1)
        print(f"{label:<42} {ours * 1000:8.1f} ms | floor count(*) {fl * 1000:7.1f} ms ({ours / fl:4.1f}x) "
              f"| ORM + Python {slow * 1000:8.1f} ms ({slow / ours:5.1f}x slower)")
    print(f"peak memory of this process: {peak_mb():.0f} MB (target < 500 MB)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
