"""A job's time against the size of the history: the same week's bulletin on a small and a large year.

    .venv/bin/python bench/year.py --database postgresql://postgres@127.0.0.1/hotline_bench_20k --tickets 20000
    .venv/bin/python bench/year.py --database postgresql://postgres@127.0.0.1/hotline_bench     # 2 M
    .venv/bin/python bench/jobs.py postgresql://postgres@127.0.0.1/hotline_bench_20k \\
        postgresql://postgres@127.0.0.1/hotline_bench [--job weekly_bulletin] [--at "2025-06-11 12:00"] [--rounds 5]

Each database in its own process (``--one``), the two interleaved round by round: the job runs in
one transaction rolled back at the end, as ``hotline run JOB --at T --dry-run`` does (queries,
documents rendered, outbox rows made; nothing kept), timed without the dry run's writing of .eml
files (it writes every message pending in the database, not only the job's); min / median / max.  Both years
have the same units and calendar (bench/year.py), so the documents have the same shape and only
the history's size differs.  Target (issue 21): the 2 M-ticket job within 1.5× of the 20 k one.
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
from pathlib import Path


def one(database: str, job: str, at: str) -> None:
    os.environ["DATABASE_URL"] = database

    from sqlalchemy import func, select

    import worker.tasks  # noqa: F401 (registers the jobs)
    from worker.config import load_settings
    from worker.db import session_factory, session_scope
    from worker.jobs import manual_run, run_in_session
    from worker.models import Ticket
    from worker.times import parse_local

    with session_scope() as s:
        tickets = s.scalar(select(func.count()).select_from(Ticket))
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings().with_var(Path(tmp))
        session = session_factory()()
        try:   # as --dry-run: one transaction, rolled back
            run = manual_run(session, job, parse_local(at), commit=False)
            t = time.perf_counter()
            summary = run_in_session(session, run, settings, dry_run=True)
            took = time.perf_counter() - t
        finally:
            session.rollback()
            session.close()
    print(json.dumps({"tickets": tickets, "seconds": took, "documents": len(summary.get("documents", [])),
                      "messages": summary.get("messages", 0)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("databases", nargs="*")
    ap.add_argument("--job", default="weekly_bulletin")
    ap.add_argument("--at", default="2025-06-11 12:00")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args.one, args.job, args.at)
    if len(args.databases) != 2:
        sys.exit("give two database URLs: the small year, then the large one")
    results: dict[str, list[dict]] = {db: [] for db in args.databases}
    for _ in range(args.rounds + 1):     # the first round warms the server's caches: not counted
        for db in args.databases:
            out = subprocess.run([sys.executable, __file__, "--one", db, "--job", args.job, "--at", args.at],
                                 capture_output=True, text=True, check=True)
            results[db].append(json.loads(out.stdout.strip().splitlines()[-1]))
    medians = []
    for db, runs in results.items():
        xs = sorted(r["seconds"] for r in runs[1:])
        medians.append(statistics.median(xs))
        r = runs[-1]
        print(f"{r['tickets']:>10,} tickets: {args.job} at {args.at} in {xs[0]:.2f} / {statistics.median(xs):.2f} / "
              f"{xs[-1]:.2f} s (min / median / max of {len(xs)}); {r['documents']} document(s), {r['messages']} message(s)")
    ratio = medians[1] / medians[0]
    print(f"large / small: {ratio:.2f}x (target ≤ 1.5x): {'met' if ratio <= 1.5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
