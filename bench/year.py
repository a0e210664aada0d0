"""The synthetic year in PostgreSQL: generate and import, then time the period queries.

    .venv/bin/python bench/year.py --database postgresql://postgres@127.0.0.1/hotline_bench \\
        [--tickets 2000000] [--skip-import]
    .venv/bin/python bench/year.py --database sqlite:////tmp/year.db --tickets 200000   # the embedded default

1. Generation and import (streamed, batches of 5,000 rows): rows/s and the process's peak memory.
2. A week's metrics of all units; a month's with two months of trend, the same month a year
   before and the hot categories; the daily sheet's detections (counts per unit, the tickets
   overdue since the last sheet and the warnings, with their tickets) this morning and replayed
   mid-year — each next to (a) the floor: ``SELECT count(*)`` over the same rows with the same
   filters (the period's clock rows; the assignments open at that moment), and (b) loading the
   assignments through the ORM and counting in Python, in a child process, whose figures must
   equal ours.
Targets (issue 4): within 3× the floor, ≥ 20× faster than (b), peak memory < 500 MB.
The database is created if missing and left in place (rerun the queries with --skip-import).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path


def peak_mb() -> float:
    """The process's peak resident memory (VmHWM: unlike ru_maxrss it can be reset, see below)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """A spawned child inherits its parent's peak across exec; "5" resets it (Linux ≥ 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database if missing (SQLite creates its file itself)."""
    if not url.startswith("postgresql"):
        return
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

    from worker.asof import view
    from worker.calendar import load_calendar
    from worker.config import PROJECT_ROOT
    from worker.db import init_db, session_factory, session_scope
    from worker.demo_data import Generator, write_export
    from worker.detection import (
        counts_by_unit,
        dispatched_between,
        due_within,
        fell_due_between,
        open_at,
        overdue_open,
        past_due,
        warnings,
    )
    from worker.directory import load_directory
    from worker.imports import import_file
    from worker.metrics import compute, hot_categories, trend
    from worker.models import Assignment, AssignmentClock
    from worker.periods import Period, containing
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
            report = import_file(session_factory(), export, cal, rules)
            imp = time.perf_counter() - t
        print(f"generated {n:,} tickets in {gen:.0f} s; imported {report.rows:,} event rows in {imp:.0f} s "
              f"= {report.rows / imp:,.0f} rows/s ({report.tickets_new:,} tickets); peak memory {peak_mb():.0f} MB")
    week = containing("week", date(2025, 6, 11))
    month = containing("month", date(2025, 6, 11))
    months = [month.previous(2), month.previous(), month, month.year_before()]
    mornings = {"daily detections, this morning (2026-01-10)": "2026-01-10T08:30:00",
                "daily detections, replayed mid-year (2025-06-11)": "2025-06-11T08:30:00"}

    def ours_week():
        with session_scope() as s:
            return compute(s, week)

    def ours_month():
        with session_scope() as s:
            trend(s, month, 3)
            compute(s, month.year_before())
            hot_categories(s, month, 5, previous=month.previous())

    def detections(key):
        """What the daily sheet asks: the counts per unit, the tickets overdue since its window
        opened and the warnings, with their tickets."""
        as_of, since, horizon = _daily_window(key)
        with session_scope() as s:
            counts_by_unit(s, as_of, since, horizon)
            overdue_open(s, as_of, fell_due_between(view(s, as_of).A, since, as_of))
            warnings(s, as_of, horizon)

    def floor_periods(periods):
        """One plain pass over the same rows: count(*) of the clock rows of each period."""
        with session_scope() as s:
            for p in periods:
                s.scalar(select(func.count()).select_from(AssignmentClock).where(
                    AssignmentClock.at >= p.start_at, AssignmentClock.at < p.end_at))

    def floor_open(key):
        """The detections' three passes, counted: open or new; overdue since; due within the horizon."""
        as_of, since, horizon = _daily_window(key)
        with session_scope() as s:
            for where in (or_(open_at(Assignment, as_of), dispatched_between(Assignment, since, as_of)),
                          and_(open_at(Assignment, as_of), past_due(Assignment, as_of), fell_due_between(Assignment, since, as_of)),
                          and_(open_at(Assignment, as_of), due_within(Assignment, as_of, horizon))):
                s.scalar(select(func.count()).select_from(Assignment).where(where))

    with session_scope() as s:
        total = s.scalar(select(func.count()).select_from(Assignment))
        clocks = s.scalar(select(func.count()).select_from(AssignmentClock))
    print(f"assignments in the database: {total:,} ({clocks:,} clock rows)")
    # The hot spots compare the month with the one before: one more span of clock rows.
    hot_span = Period("span", month.previous().start, month.end)
    cases = [("weekly metrics, all units", ours_week, lambda: floor_periods([week]), ("metrics", [week.key])),
             ("monthly metrics, 2 months of trend, year-on-year, hot spots", ours_month,
              lambda: floor_periods([*months, hot_span]), ("metrics", [p.key for p in months]))]
    cases += [(label, lambda k=key: detections(k), lambda k=key: floor_open(k), ("open", [key]))
              for label, key in mornings.items()]
    figures = []
    for label, fn, fl, _ in cases:
        figures.append((timed(fn), timed(fl)))
    print(f"peak memory of this process (import and our queries): {peak_mb():.0f} MB (target < 500 MB)")
    # The quick-script baseline runs in a child process: its memory is its own, reported apart.
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        for (label, _fn, _fl, (kind, keys)), (ours, fl) in zip(cases, figures, strict=True):
            slow, mb, diff = pool.submit(orm_baseline, args.database, kind, keys, _reference(kind, keys)).result()
            print(f"{label:<62} {ours * 1000:8.1f} ms | floor {fl * 1000:7.1f} ms ({ours / fl:4.1f}x) "
                  f"| ORM + Python {slow * 1000:8.0f} ms ({slow / ours:5.0f}x slower, {mb:.0f} MB, "
                  f"{'same figures' if diff is None else 'FIGURES DIFFER'})" + (f"\n    {diff}" if diff else ""))
    sys.stdout.flush()


def _reference(kind, keys):
    """Our figures, to compare with the baseline's."""
    from worker.asof import view
    from worker.db import session_scope
    from worker.detection import counts_by_unit, fell_due_between, overdue_open, warnings
    from worker.metrics import compute
    from worker.periods import parse_key

    with session_scope() as s:
        if kind == "metrics":
            return [{u.unit_code: _rates(u) for u in compute(s, parse_key(k)).units if u.volume or u.dispatches}
                    for k in keys]
        as_of, since, horizon = _daily_window(keys[0])
        counts = {code: c for code, c in counts_by_unit(s, as_of, since, horizon)[0].items() if any(c.values())}
        return (counts, sorted(t["number"] for t in overdue_open(s, as_of, fell_due_between(view(s, as_of).A, since, as_of))),
                sorted(t["number"] for t in warnings(s, as_of, horizon)))


def _daily_window(key):
    """The daily sheet's moment, the start of its "new" window and the end of its warning window."""
    from worker.calendar import load_calendar
    from worker.detection import previous_workday_same_time, warning_horizon

    as_of, cal = datetime.fromisoformat(key), load_calendar()
    return as_of, previous_workday_same_time(cal, as_of), warning_horizon(cal, as_of)


def _rates(u):
    return {r: (getattr(u, r).num, getattr(u, r).den)
            for r in ("response", "returns", "resolution", "satisfaction", "overdue", "redo")}


def orm_baseline(database, kind, keys, expected):
    """What a quick script does: load the rows as ORM objects and count in Python."""
    os.environ["DATABASE_URL"] = database
    reset_peak()
    from collections import Counter, defaultdict

    from sqlalchemy import and_, or_, select

    from worker.assignments import SATISFIED
    from worker.db import session_scope
    from worker.models import Assignment as A
    from worker.models import Ticket
    from worker.periods import parse_key

    t = time.perf_counter()
    with session_scope() as s:
        if kind == "open":
            as_of, since, horizon = _daily_window(keys[0])
            counts, overdue, warned = defaultdict(Counter), [], []
            # The predicate as written from the definition (dispatched, not yet returned, finished
            # or closed), without our span classes or open_until.
            not_yet = lambda col: or_(col.is_(None), col > as_of)
            open_then = and_(A.dispatched_at <= as_of, not_yet(A.returned_at), not_yet(A.finished_at),
                             not_yet(A.closed_at))
            for a in s.scalars(select(A).where(or_(open_then, and_(A.dispatched_at >= since,
                                                                   A.dispatched_at <= as_of)))):
                c = counts[a.unit_code]
                c["new"] += since <= a.dispatched_at <= as_of
                if not (a.dispatched_at <= as_of and all(t is None or t > as_of
                                                         for t in (a.returned_at, a.finished_at, a.closed_at))):
                    continue
                c["open"] += 1
                unreplied = a.first_replied_at is None or a.first_replied_at > as_of
                reply_late = a.reply_due is not None and a.reply_due < as_of and unreplied
                if a.completion_due < as_of or reply_late:
                    c["overdue"] += 1
                    if since <= a.completion_due < as_of or (
                            a.reply_due is not None and since <= a.reply_due < as_of and unreplied):
                        overdue.append(s.get(Ticket, a.ticket_id).number)
                elif a.completion_due <= horizon or (a.reply_due is not None and unreplied and a.reply_due <= horizon):
                    c["warning"] += 1
                    warned.append(s.get(Ticket, a.ticket_id).number)
            # Returned twice by then and not finished then: charged to each unit that returned it.
            returns = defaultdict(list)
            for a in s.scalars(select(A).where(A.ticket_return_count >= 2)):
                returns[a.ticket_id].append(a)
            for rows in returns.values():
                returned = [a for a in rows if a.returned_at is not None and a.returned_at <= as_of]
                done = any(a.is_current and a.finished_at is not None and a.finished_at <= as_of for a in rows)
                if len(returned) >= 2 and not done:
                    for unit in {a.unit_code for a in returned}:
                        counts[unit]["returned_twice"] += 1
            keys = ("new", "open", "warning", "overdue", "returned_twice")
            got = ({u: {k: c[k] for k in keys} for u, c in counts.items() if any(c.values())}, sorted(overdue),
                   sorted(warned))
        else:
            got = []
            for key in keys:
                p = parse_key(key)
                inside = lambda at, p=p: at is not None and p.start_at <= at < p.end_at
                rows = s.scalars(select(A).where(or_(*(and_(c >= p.start_at, c < p.end_at) for c in (
                    A.dispatched_at, A.callback_at, A.completion_due, A.first_replied_at))))).all()
                n = defaultdict(Counter)
                for a in rows:
                    c, counted = n[a.unit_code], a.returned_in_window is not True
                    if inside(a.dispatched_at):
                        c["dispatches"] += 1
                        c["returned"] += a.returned_at is not None
                        c["counted"] += counted
                        c["responded"] += counted and a.responded_in_time
                    if counted and inside(a.callback_at):
                        c["judged"] += a.resolved is not None
                        c["resolved"] += a.resolved is True
                        c["evaluated"] += a.satisfaction is not None
                        c["satisfied"] += a.satisfaction in SATISFIED
                    if counted and inside(a.completion_due):
                        c["due"] += 1
                        c["late"] += a.finished_at is None or a.finished_at > a.completion_due
                    if counted and inside(a.first_replied_at):
                        c["replied"] += 1
                        c["redone"] += a.redo_count > 0
                got.append({u: {"response": (c["responded"], c["counted"]), "returns": (c["returned"], c["dispatches"]),
                                "resolution": (c["resolved"], c["judged"]),
                                "satisfaction": (c["satisfied"], c["evaluated"]), "overdue": (c["late"], c["due"]),
                                "redo": (c["redone"], c["replied"])} for u, c in n.items() if c["dispatches"]})
    elapsed = time.perf_counter() - t
    if kind == "metrics":  # ours lists the ranked units only
        got = [{u: g.get(u) for u in e} for e, g in zip(expected, got, strict=True)]
    return elapsed, peak_mb(), _difference(expected, got)


def _difference(expected, got) -> str | None:
    """None when the figures agree, else the first place where they do not."""
    if expected == got:
        return None
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got), key=str):
            if expected.get(key) != got.get(key):
                return f"{key}: ours {expected.get(key)} / baseline {got.get(key)}"
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)) and len(expected) == len(got):
        return next(d for d in map(_difference, expected, got) if d)
    return f"ours {str(expected)[:200]} / baseline {str(got)[:200]}"


if __name__ == "__main__":
    main()
