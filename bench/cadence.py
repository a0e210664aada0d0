"""One working day's cadence through Redis and two Dramatiq worker processes, on a small year, a
large one and (optionally) a long history with the small year's daily volume, each database holding
only the events up to each run's moment, as the live service's does after its hourly imports.

    .venv/bin/python bench/cadence.py --prepare 20000 postgresql://postgres@127.0.0.1/hotline_cadence_20k
    .venv/bin/python bench/cadence.py --prepare 200000 postgresql://postgres@127.0.0.1/hotline_cadence_200k
    .venv/bin/python bench/cadence.py --years 10 --prepare 200000 postgresql://postgres@127.0.0.1/hotline_cadence_10y
    .venv/bin/python bench/cadence.py postgresql://…/hotline_cadence_20k postgresql://…/hotline_cadence_200k \\
        postgresql://…/hotline_cadence_10y [--days 2025-06-09,2025-06-10,2025-06-11,2025-06-12]

``--prepare N URL`` generates N tickets received over ``--years`` years ending with 2025 (one by
default: ``bench/year.py``'s synthetic year; the same units and calendar, N / days a day, their
events up to 2026-01-10) and imports the export cut at the start of the first of ``--days``: the
rows of events up to then.  The rows of every ticket with an event after the cut (its whole history)
are kept in the database itself (``bench.cadence_export``), for the bench's hourly imports.  The large
year has ten times the small one's tickets a day; the long history (``--years 10``) has the small
year's tickets a day and ten times its tickets in all, so that its ratio to the small year is what
history alone costs (issue 33: "the day's cadence flat with history").

The bench runs on a copy of each prepared database (``CREATE DATABASE … TEMPLATE``, dropped at the
end, so every bench starts at the same day's start), with ``hotline worker --processes 2 --threads
1`` as the service runs it (its own Redis namespace and document folder; started once, so no
interpreter starts per job).  Each round is one working day, the days in order (supervision and the
analysis group's queue carry their state from day to day): at each moment of the day's runs — the
daily sheet (08:30), the units' lists (08:45), the law push (09:00), supervision (10:00), the
analysis notices (08:05 to 18:05 hourly) — first the export's rows up to that moment are imported
(``worker.imports.import_file``, the path of ``hotline import`` and the inbox: every ticket with
an event since the previous moment, with its whole history up to this one), then the moment's runs
are put in the ledger, sent to the workers, and waited for.  No run then finds an event after its
moment (checked), so none derives a ticket again as of it (``worker/asof.py``), as in the live
service.  The databases take the same day in turn (interleaved, each first in turn).

Supervision's letters are parts of its run (``worker.jobs.spawn_part``), one run per unit that the
worker running supervision sends to both processes once it has committed: a moment ends when its
runs and their parts have ended.

Printed: per side the time of the day's runs and their parts (the ledger's started to finished,
summed: the work itself) and from sending each moment's runs to the end of their parts (with the workers' pick-up, up to a second
an idle worker waits before it looks again), the imports' time apart, the workers' CPU seconds (their
processes and children, from /proc) and the CPU of the PostgreSQL processes serving their
connections during the runs, the workers' peak resident memory (VmHWM of each process, the largest)
and the time of each job (the analysis notices summed over the day's runs; supervision from its
start to the end of its last letter, the letters' own times summed apart as ``supervision_letter``),
each as min / median / max over the counted days; and the ratios of the median days' runs to the small year's.  Target
(issue 33): within 1.5x.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
# The databases given, in order: the small year, the large year, the long history (optional).
LABELS = ("small", "large", "history")
# The day's jobs and their clock times (schedules.yaml).
DAY = [("daily_sheet", "08:30"), ("unit_daily", "08:45"), ("law_push", "09:00"), ("supervision", "10:00"),
       *(("analysis_notice", f"{h:02d}:05") for h in range(8, 19))]
DAYS = "2025-06-09,2025-06-10,2025-06-11,2025-06-12"
# The bench's own connections, told apart from the workers' in pg_stat_activity.
BENCH_APP = "hotline-bench-cadence"
EXPORT = "bench.cadence_export"   # the rows still to import: (seq, number, at, cells)


def columns() -> list[str]:
    """The export's fields in the order of its columns (``worker.demo_data.write_export``)."""
    from worker.export_reading import Mapping

    return list(Mapping.load().columns)


def prepare(tickets: int, url: str, years: int, cut: datetime) -> None:
    """Generate ``tickets`` tickets received over the ``years`` years ending with 2025 and import into
    ``url`` (once) the export's rows up to ``cut``; keep the rows of the tickets with events after it."""
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(ROOT / "bench"))
    from year import ensure_database, peak_mb

    ensure_database(url)
    from sqlalchemy import func, select

    from worker.calendar import load_calendar
    from worker.config import PROJECT_ROOT
    from worker.db import get_engine, init_db, session_factory, session_scope
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
        export, before = Path(tmp) / "year.csv", Path(tmp) / "before.csv"
        t = time.perf_counter()
        n = write_export(export, Generator(cal, seed=2025, per_day=max(1, tickets // ((end - start).days + 1))).tickets(
            start, end, datetime(2026, 1, 10)))
        generated = time.perf_counter() - t
        later = split(export, before, cut, get_engine(url))
        t = time.perf_counter()
        report = import_file(session_factory(), before, cal, load_rules())
    print(f"{url}: generated {n:,} tickets in {generated:.0f} s; imported the {report.tickets_new:,} received by "
          f"{cut:%Y-%m-%d %H:%M} in {time.perf_counter() - t:.0f} s; kept {later:,} with events after it for the "
          f"bench's imports; peak memory {peak_mb():.0f} MB")


def split(export: Path, before: Path, cut: datetime, engine) -> int:
    """Write the export's rows up to ``cut`` to ``before``; copy the rows of every ticket with an event
    after it (all its rows: an export carries a ticket's whole history) into ``EXPORT``.  Their number."""
    number, at = columns().index("number"), columns().index("at")
    cut_text = f"{cut:%Y-%m-%d %H:%M:%S}"   # the export's own format, which sorts as the time does
    later = seq = 0
    with engine.begin() as conn, export.open(encoding="utf-8", newline="") as src, \
            before.open("w", encoding="utf-8", newline="") as dst:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench")
        conn.exec_driver_sql(f"CREATE TABLE {EXPORT} (seq bigint PRIMARY KEY, number text NOT NULL, "
                             "at timestamp NOT NULL, cells text[] NOT NULL)")
        rows, out = csv.reader(src), csv.writer(dst)
        out.writerow(next(rows))
        with conn.connection.driver_connection.cursor() as cur, \
                cur.copy(f"COPY {EXPORT} (seq, number, at, cells) FROM STDIN") as copy:
            for key, ticket in itertools.groupby(rows, key=lambda row: row[number]):
                ticket = list(ticket)
                out.writerows(row for row in ticket if row[at] <= cut_text)
                if any(row[at] > cut_text for row in ticket):
                    later += 1
                    for row in ticket:
                        seq += 1
                        copy.write_row([seq, key, row[at], row])
        conn.exec_driver_sql(f"CREATE INDEX ON {EXPORT} (at)")
        conn.exec_driver_sql(f"CREATE INDEX ON {EXPORT} (number)")
    return later


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


def admin(url: str, *statements: str) -> None:
    """Statements run in the server's ``postgres`` database (creating and dropping databases)."""
    import psycopg

    base = url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


class Side:
    """A copy of one prepared database with its two worker processes, its Redis namespace and
    document folder, and the export's rows it imports moment by moment."""

    def __init__(self, prepared: str, redis_url: str, var: Path, label: str):
        from dramatiq.brokers.redis import RedisBroker
        from sqlalchemy import text
        from sqlalchemy.orm import sessionmaker

        from worker.asof import latest_event
        from worker.db import get_engine

        base, name = prepared.rsplit("/", 1)
        self.copy = f"{name}_day"
        admin(prepared, f'DROP DATABASE IF EXISTS "{self.copy}" WITH (FORCE)',
              f'CREATE DATABASE "{self.copy}" TEMPLATE "{name}"')
        self.url, self.label, self.redis = f"{base}/{self.copy}", label, redis_url
        self.namespace = f"bench-cadence-{os.getpid()}-{label}"
        self.engine = get_engine(f"{self.url}?application_name={BENCH_APP}")
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        with self.sessions() as s:
            self.imported_until = latest_event(s)   # the cut: every row up to it is imported
            received = columns().index("received_at") + 1   # the cell of 受理时间 (arrays count from 1)
            self.tickets, first, last = s.execute(text(   # the year's tickets: those stored and those to come
                f"SELECT (SELECT count(*) FROM tickets) + (SELECT count(DISTINCT number) FROM {EXPORT} e "
                f"WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.number = e.number)), "
                f"(SELECT min(received_at) FROM tickets), (SELECT max(cells[{received}]) FROM {EXPORT})")).one()
        self.span_days = (datetime.fromisoformat(last).date() - first.date()).days + 1
        self.per_day = self.tickets / self.span_days
        env = dict(os.environ, DATABASE_URL=self.url, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=self.namespace,
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

    def import_until(self, at: datetime, folder: Path) -> int:
        """Import the export's rows up to ``at`` of every ticket with an event since the last import,
        as the platform's export at ``at`` carries them (each ticket's whole history); the rows read."""
        from sqlalchemy import text

        from worker.asof import latest_event
        from worker.calendar import load_calendar
        from worker.export_reading import Mapping
        from worker.imports import import_file
        from worker.rules import load_rules

        with self.sessions() as s:
            rows = s.scalars(text(f"SELECT cells FROM {EXPORT} WHERE at <= :at AND number IN "
                                  f"(SELECT number FROM {EXPORT} WHERE at > :since AND at <= :at) ORDER BY seq"),
                             {"since": self.imported_until, "at": at}).all()
        self.imported_until = at
        if not rows:   # nothing happened since the last import (an empty export is refused)
            return 0
        path = folder / f"{self.label}-{at:%Y%m%d-%H%M}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(Mapping.load().columns.values())
            out.writerows(rows)
        report = import_file(self.sessions, path, load_calendar(), load_rules())
        path.unlink()
        if report.errors:
            raise SystemExit(f"{self.label}: the import of {at} refused rows: {report.errors[:3]}")
        with self.sessions() as s:
            if latest_event(s) > at:
                raise SystemExit(f"{self.label}: an event after {at} was imported")
        return report.rows

    def day(self, day: date, folder: Path) -> dict:
        """The day, moment by moment: the rows up to the moment imported, then its runs put in the
        ledger, sent, and waited for."""
        import dramatiq

        from worker.jobs import JOBS, manual_run

        pids = descendants(self.worker.pid)
        reset_peaks(pids)
        backends = self.backends()
        wall = imported = cpu = db_cpu = busy = 0.0
        rows_imported = parts = 0
        jobs: dict[str, float] = {}
        failed = []
        for at, runs in itertools.groupby(sorted(DAY, key=lambda run: run[1]), key=lambda run: run[1]):
            moment = datetime.fromisoformat(f"{day} {at}")
            began = time.perf_counter()
            rows_imported += self.import_until(moment, folder)
            imported += time.perf_counter() - began
            with self.sessions() as s:
                sent = [(job, manual_run(s, job, moment, commit=False).id) for job, _ in runs]
                s.commit()
            ids = [run_id for _, run_id in sent]
            cpu_before, db_before = cpu_seconds(pids), cpu_seconds(backends)
            began = time.perf_counter()
            for job, run_id in sent:
                self.broker.declare_queue(JOBS[job].family)
                self.broker.enqueue(dramatiq.Message(queue_name=JOBS[job].family, actor_name=job, args=(run_id,),
                                                     kwargs={}, options={}))
            rows = self.wait(ids)
            wall += time.perf_counter() - began
            cpu += cpu_seconds(pids) - cpu_before
            db_cpu += cpu_seconds(backends) - db_before
            for r in rows:
                own = (r.finished_at - r.started_at).total_seconds()
                busy += own
                if r.part_of is None:   # a run: from its start to the end of its last part
                    ended = max([r.finished_at] + [p.finished_at for p in rows if p.part_of == r.id])
                    jobs[r.job] = jobs.get(r.job, 0) + (ended - r.started_at).total_seconds()
                else:                   # a part: its own time, summed (the work the parts share)
                    jobs[r.job] = jobs.get(r.job, 0) + own
                    parts += 1
            failed += [r.job for r in rows if r.state == "failed"]
        result = {"day": str(day), "busy": busy, "wall": wall, "imported": imported, "parts": parts,
                  "rows": rows_imported, "cpu": cpu, "db_cpu": db_cpu, "peak": peak_mb(descendants(self.worker.pid)),
                  "jobs": jobs, "failed": failed}
        self.rounds.append(result)
        return result

    def wait(self, ids: list[int]) -> list:
        """Wait for the runs and their parts (supervision's letters, sent by the worker that ran
        supervision once it committed) to end; the ledger rows of all, each with ``part_of``."""
        from sqlalchemy import select

        from worker.models import Run

        while True:
            with self.sessions() as s:
                runs = s.execute(select(Run.id, Run.job, Run.state, Run.started_at, Run.finished_at, Run.summary)
                                 .where(Run.id.in_(ids))).all()
                part_ids = [p for r in runs for p in (r.summary or {}).get("parts", [])]
                parts = s.execute(select(Run.id, Run.job, Run.state, Run.started_at, Run.finished_at, Run.params)
                                  .where(Run.id.in_(part_ids))).all() if part_ids else []
            rows = [(r.id, r.job, r.state, r.started_at, r.finished_at, None) for r in runs] + \
                [(p.id, p.job, p.state, p.started_at, p.finished_at, p.params["part_of"]) for p in parts]
            if all(state in ("succeeded", "failed") for _, _, state, _, _, _ in rows):
                return [Row(*r) for r in rows]
            time.sleep(0.02)

    def backends(self) -> list[int]:
        """The PostgreSQL server processes serving the workers' pooled connections, open from their
        first day on (the warm-up day's figure misses them); not the bench's own (its imports)."""
        from sqlalchemy import text

        with self.sessions() as s:
            return list(s.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND application_name <> :app"), {"app": BENCH_APP}))

    def stop(self) -> None:
        self.worker.terminate()
        try:
            self.worker.wait(60)
        except subprocess.TimeoutExpired:
            self.worker.kill()
        for key in self.broker.client.scan_iter(f"{self.namespace}:*"):
            self.broker.client.delete(key)
        self.log.close()
        self.engine.dispose()
        admin(self.url, f'DROP DATABASE IF EXISTS "{self.copy}" WITH (FORCE)')


class Row(NamedTuple):
    """A run or a part as the bench reads it from the ledger."""
    id: int
    job: str
    state: str
    started_at: datetime
    finished_at: datetime
    part_of: int | None


def spread(xs: list[float], unit: str = "s", digits: int = 1) -> str:
    xs = sorted(xs)
    return " / ".join(f"{x:.{digits}f}" for x in (xs[0], statistics.median(xs), xs[-1])) + f" {unit}"


def bench(urls: list[str], days: list[date], redis_url: str) -> None:
    import worker.tasks  # noqa: F401 — registers the jobs whose runs this process puts in the ledger

    labels = LABELS[:len(urls)]
    with tempfile.TemporaryDirectory() as tmp:
        sides = []
        try:
            for url, label in zip(urls, labels, strict=True):
                (Path(tmp) / label).mkdir()
                sides.append(Side(url, redis_url, Path(tmp) / label, label))
            for side in sides:
                side.ready()
            for i, day in enumerate(days):       # the first day warms caches and workers: not counted
                for side in sides[i % len(sides):] + sides[:i % len(sides)]:   # each side first in turn
                    r = side.day(day, Path(tmp))
                    print(f"{day} {side.label:<7} {side.tickets:>10,} tickets: runs {r['busy']:.1f} s "
                          f"({len(DAY)} runs and {r['parts']} letters' parts) "
                          f"({r['wall']:.1f} s from sending to end), "
                          f"{r['cpu']:.1f} s CPU (+ {r['db_cpu']:.1f} s PostgreSQL), peak {r['peak']:.0f} MB; "
                          f"imports {r['imported']:.1f} s ({r['rows']:,} rows)"
                          + (f", FAILED: {', '.join(r['failed'])}" if r["failed"] else ""), flush=True)
        finally:
            for side in sides:
                side.stop()
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {len(days) - 1} days counted "
          f"(min / median / max), {len(DAY)} runs a day (and supervision's letters, parts of its run) on 2 worker "
          "processes, each moment's after its import")
    medians = {}
    for side in sides:
        counted = side.rounds[1:]
        medians[side.label] = [statistics.median(r[k] for r in counted) for k in ("busy", "wall")]
        print(f"{side.label:<7} {side.tickets:>10,} tickets over {side.span_days:,} days ({side.per_day:.0f} a day): "
              f"runs {spread([r['busy'] for r in counted])} ({spread([r['wall'] for r in counted])} from sending "
              f"to end), CPU {spread([r['cpu'] for r in counted])} "
              f"(+ PostgreSQL {spread([r['db_cpu'] for r in counted])}), "
              f"workers' peak {spread([r['peak'] for r in counted], 'MB', 0)}; "
              f"imports {spread([r['imported'] for r in counted])} "
              f"({spread([r['rows'] for r in counted], 'rows', 0)})")
        jobs = sorted({j for r in counted for j in r["jobs"]})
        print("        " + ", ".join(f"{j} {spread([r['jobs'][j] for r in counted])}" for j in jobs))
    for label, what in (("history", "the same tickets a day, ten times the history"),
                        ("large", "ten times the tickets a day and in all")):
        if label in medians:
            ratio, wall = (ours / small for ours, small in zip(medians[label], medians["small"], strict=True))
            print(f"{label} / small (median day's runs; {what}): {ratio:.2f}x (target <= 1.5x): "
                  f"{'met' if ratio <= 1.5 else 'NOT MET'}; from sending to end {wall:.2f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("databases", nargs="*", help="the prepared small year's URL, the large one's, and optionally "
                                                 "the long history's (--years 10)")
    ap.add_argument("--prepare", nargs=2, metavar=("TICKETS", "URL"))
    ap.add_argument("--years", type=int, default=1, help="with --prepare: the years the tickets span, ending 2025")
    ap.add_argument("--days", default=DAYS, help="working days, in order; the first is a warm-up, and --prepare "
                                                 "imports the rows up to its start")
    ap.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = ap.parse_args()
    days = [date.fromisoformat(d) for d in args.days.split(",")]
    if args.prepare:
        prepare(int(args.prepare[0]), args.prepare[1], args.years, datetime.combine(days[0], datetime.min.time()))
    elif len(args.databases) in (2, 3):
        bench(args.databases, days, args.redis)
    else:
        sys.exit("give --prepare TICKETS URL, or the two or three prepared databases")
