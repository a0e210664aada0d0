"""One working day's cadence through Redis and two Dramatiq worker processes, on a small year, a
large one and (optionally) a long history with the small year's daily volume.

    .venv/bin/python bench/cadence.py --prepare 20000 postgresql://postgres@127.0.0.1/hotline_cadence_20k
    .venv/bin/python bench/cadence.py --prepare 200000 postgresql://postgres@127.0.0.1/hotline_cadence_200k
    .venv/bin/python bench/cadence.py --years 10 --prepare 200000 postgresql://postgres@127.0.0.1/hotline_cadence_10y
    .venv/bin/python bench/cadence.py postgresql://…/hotline_cadence_20k postgresql://…/hotline_cadence_200k \\
        postgresql://…/hotline_cadence_10y [--days 2025-06-09,2025-06-10,2025-06-11,2025-06-12]

``--prepare N URL`` generates N tickets received over ``--years`` years ending with 2025 (one by
default: ``bench/year.py``'s synthetic year; the same units and calendar, N / days a day, their
events up to 2026-01-10) and imports them, unless the database holds tickets already.  The large
year has ten times the small one's tickets a day; the long history (``--years 10``) has the small
year's tickets a day and ten times its tickets in all, so that its ratio to the small year is what
history alone costs (issue 33: "the day's cadence flat with history").

Then, per database, ``hotline worker --processes 2 --threads 1`` runs as the service runs it (its
own Redis namespace and document folder; all started once, so no interpreter starts per job).
Each round is one working day: the day's runs of the daily sheet (08:30), the units' lists
(08:45), the law push (09:00), supervision (10:00) and the analysis notices (08:05 to 18:05
hourly) are put in the ledger and sent to the workers all at once, and the round ends when every
run has finished.  The databases take the same day in turn (interleaved, each first in turn), round
after round, each day in order (supervision and the analysis group's queue carry their state from
day to day).  The days lie inside the generated span, so each run reads the tickets with events
after its moment as they stood then (``worker/asof.py``): their number, printed, grows with the
tickets a day, not with the history; the live service, whose moment is now, has none.
Printed: per side the wall time of the day, the workers' CPU seconds (their processes and
children, from /proc) and the CPU of the PostgreSQL processes serving their connections, the
workers' peak resident memory (VmHWM of each process, the largest) and the time of each job (the
ledger's started/finished, the analysis notices summed over the day's runs), each as min / median
/ max over the counted days; and the ratios of the median days to the small year's.  Target
(issue 33): within 1.5x.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The day's jobs and their clock times (schedules.yaml).
# The databases given, in order: the small year, the large year, the long history (optional).
LABELS = ("small", "large", "history")
DAY = [("daily_sheet", "08:30"), ("unit_daily", "08:45"), ("law_push", "09:00"), ("supervision", "10:00"),
       *(("analysis_notice", f"{h:02d}:05") for h in range(8, 19))]


def prepare(tickets: int, url: str, years: int = 1) -> None:
    """Generate and import ``tickets`` tickets received over the ``years`` years ending with 2025 into
    ``url`` (once): with ``years`` > 1, the daily volume of a smaller single year and a longer history."""
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(ROOT / "bench"))
    from year import ensure_database, peak_mb

    ensure_database(url)
    from sqlalchemy import func, select

    from worker.calendar import load_calendar
    from worker.config import PROJECT_ROOT
    from worker.db import init_db, session_factory, session_scope
    from worker.demo_data import Generator, write_export
    from worker.directory import load_directory
    from worker.imports import import_file
    from worker.models import Ticket
    from worker.rules import load_rules

    init_db()
    with session_scope() as s:
        if s.scalar(select(func.count()).select_from(Ticket)):
            print(f"{url}: already prepared")
            return
        load_directory(s, PROJECT_ROOT / "db" / "seed" / "district.yaml")
    cal, start, end = load_calendar(), date(2026 - years, 1, 1), date(2025, 12, 31)
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "year.csv"
        t = time.perf_counter()
        n = write_export(export, Generator(cal, seed=2025, per_day=max(1, tickets // ((end - start).days + 1))).tickets(
            start, end, datetime(2026, 1, 10)))
        generated = time.perf_counter() - t
        t = time.perf_counter()
        report = import_file(session_factory(), export, cal, load_rules())
    print(f"{url}: generated {n:,} tickets in {generated:.0f} s, imported in {time.perf_counter() - t:.0f} s; "
          f"peak memory {peak_mb():.0f} MB ({report.tickets_new:,} tickets)")



def descendants(pid: int) -> list[int]:
    """PID and every process under it (the worker's parent, its worker and fork processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = task / "children"
            if children.exists():
                todo += [int(c) for c in children.read_text().split()]
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of the processes (their own and their waited-for children's)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])   # utime stime cutime cstime
    return total / tick


def peak_mb(pids: list[int]) -> float:
    """The largest peak resident memory (VmHWM) among the processes."""
    peak = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def reset_peaks(pids: list[int]) -> None:
    for p in pids:
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            pass


class Side:
    """One year's database with its two worker processes, its Redis namespace and document folder."""

    def __init__(self, url: str, redis_url: str, var: Path, label: str):
        from dramatiq.brokers.redis import RedisBroker
        from sqlalchemy import func, select
        from sqlalchemy.orm import sessionmaker

        from worker.db import get_engine
        from worker.models import Ticket

        self.url, self.label, self.redis = url, label, redis_url
        self.namespace = f"bench-cadence-{os.getpid()}-{label}"
        self.sessions = sessionmaker(bind=get_engine(url))
        with self.sessions() as s:
            self.tickets, first, last = s.execute(select(func.count(), func.min(Ticket.received_at),
                                                         func.max(Ticket.received_at))).one()
        self.span_days = (last.date() - first.date()).days + 1
        self.per_day = self.tickets / self.span_days
        env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=self.namespace,
                   HOTLINE_VAR=str(var), HOTLINE_LOG_FORMAT="text")
        self.log = open(var.parent / f"worker-{label}.log", "w")   # noqa: SIM115 — open while the workers run
        self.worker = subprocess.Popen([sys.executable, "-m", "worker.cli", "worker", "--processes", "2",
                                        "--threads", "1"], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                       cwd=ROOT)
        self.broker = RedisBroker(url=redis_url, namespace=self.namespace)
        self.rounds: list[dict] = []

    def ready(self, timeout: float = 120) -> None:
        """Wait until both worker processes have announced themselves (worker.broker.WorkerRegistry)."""
        from worker.broker import live_workers
        from worker.redis_keys import RedisKeys

        end = time.monotonic() + timeout
        while len(live_workers(self.redis, RedisKeys(self.namespace))) < 2:
            if time.monotonic() > end or self.worker.poll() is not None:
                raise SystemExit(f"{self.label}: the workers did not start (see worker-{self.label}.log)")
            time.sleep(0.5)

    def day(self, day: date) -> dict:
        """The day's runs put in the ledger and sent at once; back when all have finished."""
        import dramatiq
        from sqlalchemy import select

        from worker.jobs import JOBS, manual_run
        from worker.models import Run

        pids = descendants(self.worker.pid)
        reset_peaks(pids)
        backends = self.backends()
        ids = []
        with self.sessions() as s:
            for job, at in DAY:
                ids.append((job, manual_run(s, job, datetime.fromisoformat(f"{day} {at}"), commit=False).id))
            s.commit()
        cpu, db_cpu = cpu_seconds(pids), cpu_seconds(backends)
        began = time.perf_counter()
        for job, run_id in ids:
            queue = JOBS[job].family
            self.broker.declare_queue(queue)
            self.broker.enqueue(dramatiq.Message(queue_name=queue, actor_name=job, args=(run_id,), kwargs={},
                                                 options={}))
        while True:
            with self.sessions() as s:
                rows = s.execute(select(Run.job, Run.state, Run.started_at, Run.finished_at)
                                 .where(Run.id.in_([i for _, i in ids]))).all()
            if all(r.state in ("succeeded", "failed") for r in rows):
                break
            time.sleep(0.05)
        wall = time.perf_counter() - began
        pids = descendants(self.worker.pid)
        jobs: dict[str, float] = {}
        for r in rows:
            jobs[r.job] = jobs.get(r.job, 0) + (r.finished_at - r.started_at).total_seconds()
        result = {"day": str(day), "wall": wall, "cpu": cpu_seconds(pids) - cpu, "peak": peak_mb(pids), "jobs": jobs,
                  "db_cpu": cpu_seconds(backends) - db_cpu,
                  "failed": [r.job for r in rows if r.state == "failed"]}
        self.rounds.append(result)
        return result

    def backends(self) -> list[int]:
        """The PostgreSQL server processes serving this database: the workers' pooled connections,
        open from their first day on (the warm-up day's figure misses them).  None on SQLite."""
        from sqlalchemy import text

        if not self.url.startswith("postgresql"):
            return []
        with self.sessions() as s:
            return list(s.scalars(text("select pid from pg_stat_activity where datname = current_database() "
                                       "and pid <> pg_backend_pid()")))

    def stop(self) -> None:
        self.worker.terminate()
        try:
            self.worker.wait(60)
        except subprocess.TimeoutExpired:
            self.worker.kill()
        for key in self.broker.client.scan_iter(f"{self.namespace}:*"):
            self.broker.client.delete(key)
        self.log.close()


def spread(xs: list[float], unit: str = "s", digits: int = 1) -> str:
    xs = sorted(xs)
    return " / ".join(f"{x:.{digits}f}" for x in (xs[0], statistics.median(xs), xs[-1])) + f" {unit}"


def bench(urls: list[str], days: list[date], redis_url: str) -> None:
    import worker.tasks  # noqa: F401 — registers the jobs whose runs this process puts in the ledger
    from worker.asof import touched_tickets

    labels = LABELS[:len(urls)]
    with tempfile.TemporaryDirectory() as tmp:
        sides = []
        for url, label in zip(urls, labels, strict=True):
            (Path(tmp) / label).mkdir()
            sides.append(Side(url, redis_url, Path(tmp) / label, label))
        try:
            for side in sides:
                side.ready()
            for i, day in enumerate(days):       # the first day warms caches and workers: not counted
                for side in sides[i % len(sides):] + sides[:i % len(sides)]:   # each side first in turn
                    r = side.day(day)
                    print(f"{day} {side.label:<7} {side.tickets:>10,} tickets: {r['wall']:.1f} s wall, "
                          f"{r['cpu']:.1f} s CPU (+ {r['db_cpu']:.1f} s PostgreSQL), peak {r['peak']:.0f} MB"
                          + (f", FAILED: {', '.join(r['failed'])}" if r["failed"] else ""), flush=True)
        finally:
            for side in sides:
                side.stop()
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {len(days) - 1} days counted "
          f"(min / median / max), {len(DAY)} runs a day on 2 worker processes")
    medians = {}
    noon = datetime.fromisoformat(f"{days[-1]} 12:05")
    for side in sides:
        counted = side.rounds[1:]
        with side.sessions() as s:   # what each run re-derives as of its moment (worker/asof.py)
            alive = len(touched_tickets(s, noon))
        medians[side.label] = statistics.median(r["wall"] for r in counted)
        print(f"{side.label:<7} {side.tickets:>10,} tickets over {side.span_days:,} days ({side.per_day:.0f} a day): "
              f"day {spread([r['wall'] for r in counted])}, CPU {spread([r['cpu'] for r in counted])} "
              f"(+ PostgreSQL {spread([r['db_cpu'] for r in counted])}), "
              f"workers' peak {spread([r['peak'] for r in counted], 'MB', 0)}; "
              f"{alive:,} tickets with events after {noon:%m-%d %H:%M} (derived again as of it)")
        jobs = sorted({j for r in counted for j in r["jobs"]})
        print("        " + ", ".join(f"{j} {spread([r['jobs'][j] for r in counted])}" for j in jobs))
    for label, what in (("history", "the same tickets a day, ten times the history"),
                        ("large", "ten times the tickets a day and in all")):
        if label in medians:
            ratio = medians[label] / medians["small"]
            print(f"{label} / small (median day; {what}): {ratio:.2f}x (target <= 1.5x): "
                  f"{'met' if ratio <= 1.5 else 'NOT MET'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("databases", nargs="*", help="the small year's URL, the large one's, and optionally the "
                                                 "long history's (--years 10)")
    ap.add_argument("--prepare", nargs=2, metavar=("TICKETS", "URL"))
    ap.add_argument("--years", type=int, default=1, help="with --prepare: the years the tickets span, ending 2025")
    ap.add_argument("--days", default="2025-06-09,2025-06-10,2025-06-11,2025-06-12",
                    help="working days, in order; the first is a warm-up")
    ap.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = ap.parse_args()
    if args.prepare:
        prepare(int(args.prepare[0]), args.prepare[1], args.years)
    elif len(args.databases) in (2, 3):
        bench(args.databases, [date.fromisoformat(d) for d in args.days.split(",")], args.redis)
    else:
        sys.exit("give --prepare TICKETS URL, or the two or three databases")
