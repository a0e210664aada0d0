"""Monthly partitions of ``ticket_events`` and ``assignment_clocks`` against the plain tables, and
the plain tables without the covering clock index ``ix_clock_at``, each side in its own process and
a fresh database, rounds interleaved (issue 33, targets 3 and 6).

    .venv/bin/python bench/partitions.py [--tickets 200000] [--rounds 3]

A year of a synthetic district (``--tickets`` received over 365 days) is imported once by
`hotline import`; its tickets, events and clock rows are dumped.  Each round then, per side, a
fresh schema — as migrated (``plain``), or with both tables range-partitioned by month on ``at``
(``partitioned``: the same indexes, the key widened by ``at`` as PostgreSQL requires) — is loaded
with the dump by COPY (timed: what an import's writes cost), and the service's read patterns run
on it (timed): a month's metrics from the clock rows, a partial day's clock rows, a week's events
of one kind (these prune to one or two partitions), and a refresh's read of 500 tickets' events
and clock rows by ticket (this one cannot prune: every partition is probed).
The third side, ``no ix_clock_at``, is the plain schema without that index: what its upkeep costs
a load, and what the reads lose without it.
Printed: min / median / max seconds per side, and each side / plain of the medians.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)
TABLES = ("tickets", "ticket_events", "assignment_clocks")
FLAGS = "counted, responded, returned, returned_twice, resolved, judged, satisfied, evaluated, late, redone"

PARTITION = f"""
ALTER SEQUENCE ticket_events_id_seq OWNED BY NONE;
DROP TABLE ticket_events, assignment_clocks;
CREATE TABLE ticket_events (id integer NOT NULL DEFAULT nextval('ticket_events_id_seq'),
  ticket_id integer NOT NULL REFERENCES tickets(id) ON DELETE CASCADE, kind varchar(16) NOT NULL,
  at timestamp NOT NULL, unit_code varchar(32) NOT NULL, reason text, note text, suggested_unit_code varchar(32),
  reply_kind varchar(32), review_passed boolean, days integer, consent boolean, plan_date date,
  satisfaction varchar(24), resolved boolean, contact_person varchar(100), contact_phone varchar(40),
  PRIMARY KEY (id, at), CONSTRAINT uq_event UNIQUE (ticket_id, kind, at, unit_code)) PARTITION BY RANGE (at);
CREATE INDEX ix_events_kind_at ON ticket_events (kind, at);
CREATE TABLE assignment_clocks (ticket_id integer NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
  seq integer NOT NULL, clock smallint NOT NULL, at timestamp NOT NULL, unit_code varchar(32) NOT NULL,
  category_code varchar(32) NOT NULL, current smallint NOT NULL,
  {', '.join(f'{f} smallint NOT NULL' for f in FLAGS.split(', '))},
  PRIMARY KEY (ticket_id, seq, clock, at)) PARTITION BY RANGE (at);
CREATE INDEX ix_clock_at ON assignment_clocks (at) INCLUDE (clock, unit_code, category_code, current, {FLAGS});
"""

CHILD = r'''
import sys, time, psycopg
from datetime import timedelta
url, folder, mode = sys.argv[1], sys.argv[2], sys.argv[3]
tables = ("tickets", "ticket_events", "assignment_clocks")
with psycopg.connect(url) as conn, conn.cursor() as cur:
    columns = {t: open(f"{folder}/{t}.columns").read() for t in tables}
    started = time.perf_counter()
    if mode == "load":
        for t in tables:
            with cur.copy(f"COPY {t} ({columns[t]}) FROM STDIN") as copy, open(f"{folder}/{t}.copy", "rb") as fh:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
        conn.commit()
    else:
        ids = [r[0] for r in cur.execute("SELECT id FROM tickets ORDER BY id").fetchall()]
        months = [r[0] for r in cur.execute("SELECT DISTINCT date_trunc('month', at) FROM assignment_clocks "
                                            "ORDER BY 1").fetchall()][1:-1]
        started = time.perf_counter()
        for i, month in enumerate(months):
            cur.execute("SELECT unit_code, clock, count(*), sum(late), sum(counted) FROM assignment_clocks "
                        "WHERE at >= %s AND at < %s + interval '1 month' GROUP BY 1, 2", (month, month)).fetchall()
            day = month + timedelta(days=14)
            cur.execute("SELECT count(DISTINCT ticket_id), count(*) FROM assignment_clocks WHERE at >= %s "
                        "AND at < %s + interval '10 hours'", (day, day)).fetchall()
            cur.execute("SELECT count(*) FROM ticket_events WHERE kind = 'callback' AND at >= %s "
                        "AND at < %s + interval '7 days'", (day, day)).fetchall()
            some = ids[i * 997 % max(1, len(ids) - 500):][:500]
            cur.execute("SELECT * FROM ticket_events WHERE ticket_id = ANY(%s)", (some,)).fetchall()
            cur.execute("SELECT * FROM assignment_clocks WHERE ticket_id = ANY(%s)", (some,)).fetchall()
print(time.perf_counter() - started)
'''


def months(first: date, last: date):
    m = date(first.year, first.month, 1)
    while m <= last:
        nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        yield m, nxt
        m = nxt


def prepare(url: str, side: str, first: date, last: date) -> None:
    import psycopg

    peer.schema(url)
    if side == "no ix_clock_at":
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP INDEX ix_clock_at")
    if side != "partitioned":
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PARTITION)
        for table in ("ticket_events", "assignment_clocks"):
            for start, end in months(first, last):
                conn.execute(f"CREATE TABLE {table}_{start:%Y%m} PARTITION OF {table} "
                             f"FOR VALUES FROM ('{start}') TO ('{end}')")
            conn.execute(f"CREATE TABLE {table}_rest PARTITION OF {table} DEFAULT")


def child(url: str, folder: Path, mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(folder), mode], check=True, capture_output=True,
                         text=True)
    return float(out.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=200_000, help="tickets received in the year")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--admin", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import psycopg

    from worker.calendar import load_calendar
    from worker.demo_data import Generator, write_export

    first, last = date(2025, 12, 1), date(2026, 11, 30)   # a year before the machine's clock
    with tempfile.TemporaryDirectory() as tmp:
        folder, export = Path(tmp), Path(tmp) / "year.csv"
        write_export(export, Generator(load_calendar(), seed=33, per_day=max(1, args.tickets // 365)).tickets(
            first, last - timedelta(days=20), datetime(2026, 12, 1)))
        db, url = peer.fresh_database(args.admin)
        try:
            peer.ours(url, export)
            with psycopg.connect(url) as conn, conn.cursor() as cur:
                for t in TABLES:
                    names = [r[0] for r in cur.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                        "ORDER BY ordinal_position", (t,))]
                    (folder / f"{t}.columns").write_text(", ".join(names))
                    with cur.copy(f"COPY {t} ({', '.join(names)}) TO STDOUT") as copy, \
                            open(folder / f"{t}.copy", "wb") as out:
                        out.writelines(copy)
                counts = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        finally:
            peer.drop_database(args.admin, db)
        sides = ("plain", "partitioned", "no ix_clock_at")
        times = {(side, what): [] for side in sides for what in ("load", "queries")}
        for _ in range(args.rounds):
            for side in sides:
                db, url = peer.fresh_database(args.admin)
                try:
                    prepare(url, side, first - timedelta(days=31), last + timedelta(days=62))
                    times[(side, "load")].append(child(url, folder, "load"))
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("VACUUM ANALYZE")
                    times[(side, "queries")].append(child(url, folder, "queries"))
                finally:
                    peer.drop_database(args.admin, db)
    print(f"a year: {counts['tickets']:,} tickets, {counts['ticket_events']:,} events, "
          f"{counts['assignment_clocks']:,} clock rows; {args.rounds} interleaved rounds")
    print(f"{'seconds':<28} {'min':>8} {'median':>8} {'max':>8}")
    for (side, what), values in times.items():
        values.sort()
        print(f"{side + ' ' + what:<28} {values[0]:>8.2f} {statistics.median(values):>8.2f} {values[-1]:>8.2f}")
    for side in sides[1:]:
        for what in ("load", "queries"):
            ratio = statistics.median(times[(side, what)]) / statistics.median(times[("plain", what)])
            print(f"{side} / plain, {what}: {ratio:.2f}")


if __name__ == "__main__":
    main()
