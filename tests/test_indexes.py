"""Every index earns its keep (issue 33, target 3): on PostgreSQL, with half a year of a district's
history, the service's own queries — the period jobs of a day, a week and a month, an import of a
corrected re-export, the rows as of a past moment — are each explained as they run, and every
index of the big tables must be used by the query this file names for it.  An index no query
uses costs every import its upkeep and is dropped (migration 0016: ``ix_asg_category`` and
``ix_tickets_category_code``; 0017: ``ix_tickets_caller_phone``); one added later needs its line here.
Three are read only at a larger scale (``AT_SCALE``); the events' surrogate key is read by nothing
and kept for now (``UNREAD``, asserted unread).

The primary keys and unique constraints are the identity the import relies on and stay whatever
reads them (``IDENTITY``, each with what reads it when something does)."""
from __future__ import annotations

import csv
import json
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from worker.cli import main
from worker.db import get_engine, session_factory, session_scope

# index: the query that reads it (as explained here).
SERVES = {
    "ix_tickets_received": "grading: the severity of the tickets received in the day",
    "ix_tickets_life": "asof.touched_tickets: tickets received by T with an event after T, per life class",
    "ix_events_kind_at": "asof.latest_event: the newest event of each kind",
    "ix_asg_unit_dispatched": "the unit lists: a unit's dispatches in a period",
    "ix_asg_dispatched": "the first dispatch on record (min dispatched_at) and dispatches in a period",
    "ix_asg_open_due": "detection.law_enforcement (the law push): tickets replied (finished) in its window",
    "ix_asg_callback": "the bulletin's callbacks of the period (period_callbacks)",
    "ix_asg_open": "detection.open_at: the assignments open now (partial index of is_open)",
    "ix_asg_span": "detection.open_at: the assignments open at a past moment, per span class",
    "ix_asg_completion_due": "detection: assignments falling due (warnings, overdue)",
    "ix_asg_reply_due": "detection: fell overdue since (the daily sheet)",
    "ix_asg_returned": "detection: the returns of the day (the daily sheet)",
    "ix_clock_at": "metrics: a partial day's clock rows (count of tickets and rows), index only",
}
# The identity the import and the replay rely on (primary keys, unique constraints): kept whatever
# reads them; what reads them here, for the record (small tables are often scanned instead).
IDENTITY = {
    "tickets_pkey": "assignments.refresh: the tickets derived again, by id",
    "tickets_number_key": "importer._store: the stored tickets of a batch, by 工单编号",
    "uq_event": "assignments.refresh: the events of the tickets derived again",
    "assignments_pkey": "detection's lists: the assignments joined back by id",
    "uq_assignment": "detection: the assignments of given tickets",
    "assignment_clocks_pkey": "assignments.refresh: the days a ticket's clock rows counted on",
    "clock_days_pkey": "assignments.refresh: the rollup's emptied days",
    "analysis_queue_pkey": "assignments.refresh: a ticket's analysis entry taken out",
}
# Read by the measurement at 200 k tickets (the console, the year's queries), which this
# half year does not reach: kept, not asserted here.
AT_SCALE = {"ix_tickets_address_cat", "ix_asg_first_replied", "ix_analysis_finished"}
# Read by nothing, and kept: the events' surrogate key (the batch path deletes a corrected event by
# it and the replay breaks ties of time by it; replacing it by uq_event is a change of its own).
UNREAD = {"ticket_events_pkey"}
BIG = ("tickets", "ticket_events", "assignments", "assignment_clocks", "clock_days", "analysis_queue")
DROPPED = {"ix_asg_category", "ix_tickets_category_code", "ix_tickets_caller_phone"}
RUNS = (("daily_sheet", "2026-10-28 08:30"), ("unit_daily", "2026-10-28 08:45"), ("supervision", "2026-10-28 09:30"),
        ("law_push", "2026-10-28 09:15"), ("analysis_notice", "2026-10-28 12:05"), ("ticket_reports", "2026-10-28 11:30"),
        ("weekly_bulletin", "2026-10-28 10:00"), ("leader_digest", "2026-10-28 09:00"),
        ("escalation_weekly", "2026-10-28 10:30"), ("monthly_analysis", "2026-11-02 10:00"))


def indexes_used(plan: dict) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= indexes_used(child)
    return found


@pytest.mark.postgres
def test_every_index_is_read_by_the_query_named_for_it(half_year, tmp_path):
    from worker.calendar import load_calendar
    from worker.imports import import_file
    from worker.rules import load_rules

    cal, rules, export = load_calendar(), load_rules(), half_year
    with get_engine().connect() as conn:
        present = {name for (name,) in conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(:t)"), {"t": list(BIG)})}
    assert not present & DROPPED
    assert present == set(SERVES) | set(IDENTITY) | AT_SCALE | UNREAD, "an index without its query, or a query's index gone"

    # A re-export correcting a few tickets: the import's own lookups.
    with export.open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    rows = rows[:400]
    rows[0][header.index("诉求内容")] += "（更正）"
    corrected = tmp_path / "corrected.csv"
    with corrected.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])

    used: dict[str, str] = {}

    def explain(conn, cursor, statement, parameters, context, executemany):
        if executemany or not statement.lstrip().upper().startswith(("SELECT", "WITH", "DELETE", "UPDATE")) \
                or "pg_" in statement or "alembic_version" in statement:
            return
        with cursor.connection.cursor() as c:
            c.execute(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            plan = c.fetchone()[0]
        for name in indexes_used((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]):
            used.setdefault(name, " ".join(statement.split())[:200])

    event.listen(Engine, "after_cursor_execute", explain)
    try:
        for job, at in RUNS:
            res = CliRunner().invoke(main, ["run", job, "--inline", "--at", at])
            assert res.exit_code == 0, res.output
        for bulk in (True, False):   # a correction goes through the batch path either way
            import_file(session_factory(), corrected, cal, rules, bulk=bulk)
        with session_scope() as s:
            from worker.asof import view
            view(s, datetime(2026, 10, 20, 12, 0))
    finally:
        event.remove(Engine, "after_cursor_execute", explain)
    unused = {name: query for name, query in SERVES.items() if name not in used}
    assert unused == {}, "indexes their query did not use:\n" + "\n".join(f"{k}: {v}" for k, v in unused.items())
    assert not UNREAD & set(used), {name: used[name] for name in UNREAD & set(used)}
