"""The web console's server time per page, on the synthetic year (bench/year.py's database).

    .venv/bin/python bench/year.py --database postgresql://postgres@127.0.0.1/hotline_bench   # once
    .venv/bin/python bench/web.py --database postgresql://postgres@127.0.0.1/hotline_bench \\
        [--as-of "2025-06-11 09:00"] [--rounds 20]

The console's app is called in this process through Starlette's test client (ASGI in memory: the
time is the server's — routing, session, scope, queries, template — plus about a millisecond of
client); each page is requested ``--rounds`` times after one warm-up, the pages interleaved
round by round, as the centre (every unit, callers unmasked) and as the liaison of the busiest
unit; p50 / p95 / max in milliseconds.  Before the first run the script runs the daily sheet and
the supervision letters at the moment, so the documents pages and the ticket page have documents
to list.  Target (issue 23): every page under 200 ms at p95 on the 2 M-ticket database.

The unit page on two databases side by side (issue 35: within 200 ms p95 on SQLite at 200 k
tickets, beside PostgreSQL) — each database in a process of its own, the processes interleaved
``--repeat`` times, min / median / max of each process's p95:

    .venv/bin/python bench/web.py --unit-page sqlite:////tmp/year200k.db \
        --unit-page postgresql://postgres@127.0.0.1/hotline_bench200k [--repeat 3] [--rounds 20]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import datetime

PASSWORD = "bench password 2025"


UNIT_PAGE = "a unit (8 weeks, 6 months, ladder, letters)"


def compare_unit_page(databases: list[str], args) -> None:
    import subprocess

    seen: dict[str, list[float]] = {db: [] for db in databases}
    for _ in range(args.repeat):
        for db in databases:
            out = subprocess.run([sys.executable, __file__, "--database", db, "--as-of", args.as_of,
                                  "--rounds", str(args.rounds), "--only", UNIT_PAGE],
                                 capture_output=True, text=True, check=True).stdout
            line = next(x for x in out.splitlines() if x.startswith(UNIT_PAGE))
            seen[db].append(float(line.split()[-2]))
    print(f"unit page p95 (ms), {args.repeat} processes each, interleaved, {args.rounds} rounds each:")
    for db, xs in seen.items():
        print(f"  {db.split('://')[0]:<12} min {min(xs):7.1f}  median {statistics.median(xs):7.1f}  "
              f"max {max(xs):7.1f}   {db.rsplit('/', 1)[-1]}  (target < 200 ms: {'met' if max(xs) < 200 else 'NOT MET'})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--database")
    ap.add_argument("--as-of", default="2025-06-11 09:00", help="the console's 'now' (inside the synthetic year)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--only", help="time only the page with this label")
    ap.add_argument("--unit-page", action="append", default=[], metavar="DATABASE",
                    help="compare the unit page on these databases (give it twice)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.unit_page:
        return compare_unit_page(args.unit_page, args)
    if not args.database:
        ap.error("--database or --unit-page is required")
    os.environ["DATABASE_URL"] = args.database
    as_of = datetime.fromisoformat(args.as_of)

    from click.testing import CliRunner
    from sqlalchemy import func, select
    from starlette.testclient import TestClient

    from worker.cli import main as cli
    from worker.db import session_scope
    from worker.detection import open_at
    from worker.models import Assignment, Document, Person, Ticket
    from worker.web.app import create_app

    with session_scope() as s:
        tickets = s.scalar(select(func.count()).select_from(Ticket))
        busiest = s.execute(select(Assignment.unit_code, func.count()).where(open_at(Assignment, as_of))
                            .group_by(Assignment.unit_code).order_by(func.count().desc()).limit(1)).first()[0]
        liaison = s.scalar(select(Person.email).where(Person.unit_code == busiest, Person.role == "liaison"))
        centre = s.scalar(select(Person.email).where(Person.role == "hotline_center"))
        documents = s.scalar(select(func.count()).select_from(Document))
    print(f"database: {tickets:,} tickets; console as of {as_of:%Y-%m-%d %H:%M}; busiest unit {busiest} ({liaison})")
    runner = CliRunner()
    if not documents:
        for job in ("daily_sheet", "supervision"):
            t = time.perf_counter()
            res = runner.invoke(cli, ["run", job, "--at", args.as_of, "--inline"])
            print(f"  {job} at {args.as_of}: exit {res.exit_code} in {time.perf_counter() - t:.1f} s")
    for email in (centre, liaison):
        runner.invoke(cli, ["console-user", "add", email, "--password-stdin"], input=PASSWORD + "\n")
    app = create_app(secret="bench", clock=lambda: as_of)

    def signed_in(email):
        c = TestClient(app, base_url="https://bench")
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"email": email, "password": PASSWORD, "csrf": token},
                      follow_redirects=False).status_code == 303
        return c

    clients = {"centre": signed_in(centre), "liaison": signed_in(liaison)}
    with session_scope() as s:
        number = s.scalar(select(Ticket.number).join(Assignment, Assignment.ticket_id == Ticket.id)
                          .where(open_at(Assignment, as_of), Assignment.unit_code == busiest).limit(1))
        doc = s.scalar(select(Document.id).order_by(Document.id.desc()).limit(1))
    pages = [("centre", "today", "/today"),
             ("liaison", "today", "/today"),
             ("centre", "tickets: a unit's overdue", f"/tickets?unit={busiest}&list=overdue"),
             ("centre", "tickets: the district's open, page 1", "/tickets?list=open"),
             ("liaison", "tickets: its unit's warnings", f"/tickets?unit={busiest}&list=warning"),
             ("centre", "a ticket", f"/tickets/{number}"),
             ("liaison", "a ticket", f"/tickets/{number}"),
             ("centre", UNIT_PAGE, f"/units/{busiest}"),
             ("centre", "documents", "/documents"),
             ("liaison", "documents", "/documents"),
             ("centre", "documents: by ticket number", f"/documents?number={number}"),
             ("centre", "a document", f"/documents/{doc}" if doc else "/documents"),
             ("centre", "runs, outbox, schedules", "/runs")]
    if args.only:
        pages = [p for p in pages if p[1] == args.only]
    times: dict[int, list[float]] = {i: [] for i in range(len(pages))}
    for i, (who, _label, path) in enumerate(pages):   # warm-up, and every page must answer 200
        status = clients[who].get(path).status_code
        if status != 200:
            sys.exit(f"{path} as {who}: HTTP {status}")
    for _ in range(args.rounds):
        for i, (who, _label, path) in enumerate(pages):
            t = time.perf_counter()
            clients[who].get(path)
            times[i].append((time.perf_counter() - t) * 1000)
    print(f"{'page':<48} {'as':<8} {'p50':>8} {'p95':>8} {'max':>8}  (ms, {args.rounds} rounds)")
    worst = 0.0
    for i, (who, label, _path) in enumerate(pages):
        xs = sorted(times[i])
        p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
        worst = max(worst, p95)
        print(f"{label:<48} {who:<8} {statistics.median(xs):8.1f} {p95:8.1f} {xs[-1]:8.1f}")
    print(f"slowest p95: {worst:.0f} ms (target < 200 ms): {'met' if worst < 200 else 'NOT MET'}")


if __name__ == "__main__":
    main()
