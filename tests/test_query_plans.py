"""Every query a period job runs stays within its period (issue 21): on PostgreSQL, with 30 weeks of
history, each SELECT of the daily and weekly jobs (``JOBS``) is run again under EXPLAIN ANALYZE
and the rows its scans of the big tables read (returned plus filtered away) must stay within three
times the week's clock rows.  A query that walked the history — a sequential scan, an index walked
in the wrong order while a LIMIT waits (the typical cases did that: 5.4× here), a list of every
ticket ever queued for analysis filtered in Python (the daily sheet did that: 5.9×) — reads up to
thirty times more, and more each week."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from worker.cli import main
from worker.db import session_scope
from worker.models import AssignmentClock

BIG = {"tickets", "ticket_events", "assignments", "assignment_clocks"}
# The jobs of schedules.yaml that read the history for a day or a week (the monthly and longer
# ones read more than a week by design).
JOBS = (("weekly_bulletin", "2026-10-28 10:00"), ("daily_sheet", "2026-10-28 08:30"), ("unit_daily", "2026-10-28 08:45"),
        ("ticket_reports", "2026-10-28 11:30"), ("analysis_notice", "2026-10-28 12:05"), ("supervision", "2026-10-28 09:30"),
        ("leader_digest", "2026-10-28 09:00"), ("law_push", "2026-10-28 09:15"), ("escalation_weekly", "2026-10-28 10:30"))


def scanned(plan: dict) -> list[tuple[str, int]]:
    """(table, rows read) of every scan node of the plan: returned and removed, times loops."""
    out = []
    relation = plan.get("Relation Name")
    if relation in BIG:
        loops = plan.get("Actual Loops", 1)
        rows = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0) \
            + plan.get("Rows Removed by Index Recheck", 0)
        out.append((relation, int(rows * loops)))
    for child in plan.get("Plans", []):
        out += scanned(child)
    return out


@pytest.mark.postgres
def test_period_jobs_read_what_the_period_holds(half_year):
    week_start, week_end = datetime(2026, 10, 26), datetime(2026, 11, 2)
    with session_scope() as s:
        period_rows = s.scalar(select(func.count()).select_from(AssignmentClock).where(
            AssignmentClock.at >= week_start, AssignmentClock.at < week_end))
        all_rows = s.scalar(select(func.count()).select_from(AssignmentClock))
    assert all_rows > 25 * period_rows          # the history is much longer than the period

    # Each SELECT is explained right after it ran, on its own connection: the rows as of a moment
    # live in that connection's temporary tables (worker.asof).
    plans, running = [], [None]

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany \
                and "alembic_version" not in statement and "pg_" not in statement:
            with cursor.connection.cursor() as c:
                c.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
                plan = c.fetchone()[0]
            plans.append((running[0], statement, (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))

    event.listen(Engine, "after_cursor_execute", explain)   # every engine: the job opens its own
    try:
        for job, at in JOBS:
            running[0] = job
            res = CliRunner().invoke(main, ["run", job, "--inline", "--at", at])
            assert res.exit_code == 0, res.output
    finally:
        event.remove(Engine, "after_cursor_execute", explain)
    assert len(plans) > 20
    too_wide = []
    for job, statement, plan in plans:
        for table, rows in scanned(plan):
            if rows > 3 * period_rows + 500:
                too_wide.append((job, table, rows, " ".join(statement.split())[:300]))
    assert too_wide == [], f"{period_rows} clock rows in the week:\n" + "\n".join(map(str, too_wide))
