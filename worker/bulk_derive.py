"""The replay of ``worker.assignments`` as set-based SQL, for the tickets a bulk load stores new.

Why a twin: replaying each new ticket in Python and copying its assignments and clock rows back
was, after the parsing, the largest part of a bulk load (a third of its time at 20 k tickets).
Here the same rows are derived in the database by window functions over the events just
inserted and written by ``INSERT … SELECT`` (issue 33).  The Python replay stays the one every
other path uses (the batch path, corrections, ``recompute_all``, ``asof``).

What keeps the two equal:
- the parameters have one source: ``Rules`` (``config/rules.yaml``), the calendar's own table
  (``WorkCalendar.work_cum`` / ``nth_workday``), the clock numbers and flags of ``worker.models``,
  ``SATISFIED`` and the law-enforcement codes of ``worker.assignments`` — sent as values, never
  written a second time;
- each step below names the rule of ``assignments.py`` it mirrors;
- ``tests/test_bulk_load.py`` imports the same exports both ways (bulk, batch) and compares every
  derived row, with histories made to reach each rule (returns, 改派 without a return, review sent
  back, redo, extensions with and without consent, plans, callbacks, a due time past the calendar).

A due time in a year the calendar lacks raises ``UnknownYearError`` as the Python computation does,
and the chunk falls back to the batch path, which isolates the ticket.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from .assignments import SATISFIED, SPAN_TOP, law_codes, roll_days
from .calendar import UnknownYearError, WorkCalendar
from .models import CLOCK_FLAGS, Assignment, Clock
from .rules import Rules

_EOD = "interval '23:59:59'"   # the last second of a due day (rules.SECONDS_TO_END_OF_DAY)


def span_sql(start: str, end: str) -> str:
    """``assignments.span_class`` in SQL: the smallest k < SPAN_TOP with END - START <= 2**k days."""
    return "CASE " + " ".join(f"WHEN {end} - {start} <= interval '{1 << k} days' THEN {k}"
                              for k in range(SPAN_TOP)) + f" ELSE {SPAN_TOP} END"


def load_calendar_table(conn, cal: WorkCalendar) -> None:
    """The calendar's working-day table as temporary tables of the connection's session:
    ``work_days`` (each day: working days up to it, known or not, unknown days up to it) and
    ``nth_workday`` (the k-th working day) — ``WorkCalendar.add_working_days_ords`` as two joins."""
    conn.execute(text("CREATE TEMP TABLE work_days (day date PRIMARY KEY, cum integer, known boolean, "
                      "unknown_cum integer)"))
    conn.execute(text("CREATE TEMP TABLE nth_workday (k integer PRIMARY KEY, day date, unknown_cum integer)"))
    days = [cal.origin + timedelta(days=i) for i in range(len(cal.work_cum))]
    unknown_cum = cal.unknown_cum.tolist()
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy("COPY work_days FROM STDIN") as copy:
            for row in zip(days, cal.work_cum.tolist(), cal.known.tolist(), unknown_cum, strict=True):
                copy.write_row(row)
        with cur.copy("COPY nth_workday FROM STDIN") as copy:
            for k, i in enumerate(cal.nth_workday.tolist()):
                copy.write_row((k, days[i], unknown_cum[i]))
    conn.execute(text("ANALYZE work_days"))
    conn.execute(text("ANALYZE nth_workday"))


def drop_calendar_table(conn) -> None:
    conn.execute(text("DROP TABLE IF EXISTS work_days, nth_workday"))


# derive_ticket's replay, per event in (at, id) order: ``latest`` the seq of the newest dispatch
# so far (the assignment a dispatch opens is the count of dispatches up to it); ``own`` the
# newest earlier dispatch to the event's unit; a return ``kills`` the current assignment (sets
# ``current`` to None) when it targets it: its own is the newest dispatch, or it has none and
# falls to the current one.  The target: ``own``, else the newest dispatch unless a return
# killed it before this event, else nothing.
_EVENTS = """
CREATE TEMP TABLE d_ev ON COMMIT DROP AS
WITH ev AS (
    SELECT e.ticket_id, e.kind, e.at, e.unit_code, e.reason, e.suggested_unit_code, e.reply_kind,
           e.review_passed, e.days, e.consent, e.plan_date, e.satisfaction, e.resolved,
           row_number() OVER w AS pos, count(*) FILTER (WHERE e.kind = 'dispatched') OVER w AS latest
    FROM ticket_events e WHERE e.ticket_id = ANY(:ids)
    WINDOW w AS (PARTITION BY e.ticket_id ORDER BY e.at, e.id)),
owned AS (
    SELECT ev.*, CASE WHEN kind <> 'dispatched' THEN max(latest) FILTER (WHERE kind = 'dispatched')
                      OVER (PARTITION BY ticket_id, unit_code ORDER BY pos) END AS own
    FROM ev),
killing AS (
    SELECT owned.*, (kind = 'returned' AND latest > 0 AND (own IS NULL OR own = latest)) AS kills
    FROM owned)
SELECT killing.*, CASE WHEN kind = 'dispatched' THEN NULL WHEN own IS NOT NULL THEN own
                       WHEN latest > 0 AND count(*) FILTER (WHERE kills) OVER (PARTITION BY ticket_id, latest
                           ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) = 0 THEN latest END AS target
FROM killing
"""

# The last event of a kind (or of a set of kinds) applied to an assignment decides a field.
_LAST = "(array_agg({value} ORDER BY pos DESC) FILTER (WHERE {where}))[1]"
_FIRST = "(array_agg({value} ORDER BY pos) FILTER (WHERE {where}))[1]"
_REOPENS = "kind = 'redo' OR (kind = 'reviewed' AND review_passed IS FALSE)"   # finished_at = None

# Each assignment: what its events set (derive_ticket's branches), then the ticket's facts (returns,
# the unit charged with "returned twice"), the due times (rules.compute_deadlines over the
# calendar's table) and the facts that depend on them (add_deadlines).
_ASSIGNMENTS = f"""
CREATE TEMP TABLE d_asg ON COMMIT DROP AS
WITH disp AS (
    SELECT ticket_id, latest AS seq, unit_code, at AS dispatched_at,
           lead(at) OVER (PARTITION BY ticket_id ORDER BY latest) AS next_dispatch,
           latest = max(latest) OVER (PARTITION BY ticket_id) AS last
    FROM d_ev WHERE kind = 'dispatched'),
spans AS (SELECT ticket_id, latest AS seq, bool_or(kills) AS killed FROM d_ev WHERE latest > 0 GROUP BY 1, 2),
acts AS (
    SELECT ticket_id, target AS seq,
        min(at) FILTER (WHERE kind = 'signed') AS signed_at,
        max(at) FILTER (WHERE kind = 'returned') AS returned_at,
        {_LAST.format(value="reason", where="kind = 'returned'")} AS return_reason,
        {_LAST.format(value="suggested_unit_code", where="kind = 'returned'")} AS suggested_unit_code,
        min(at) FILTER (WHERE kind = 'replied') AS first_replied_at,
        CASE WHEN {_LAST.format(value="kind", where="kind = 'replied' OR " + _REOPENS)} = 'replied'
             THEN max(at) FILTER (WHERE kind = 'replied') END AS finished_at,
        {_LAST.format(value="reply_kind", where="kind = 'replied'")} AS reply_kind,
        sum(greatest(coalesce(days, 0), 0)) FILTER (WHERE kind = 'extended'
            AND (consent IS TRUE OR NOT :requires_consent)) AS extended_days,
        {_LAST.format(value="plan_date", where="kind = 'planned' OR (kind = 'replied' AND plan_date IS NOT NULL)")}
            AS plan_date,
        max(at) FILTER (WHERE kind = 'callback') AS callback_at,
        {_LAST.format(value="satisfaction", where="kind = 'callback'")} AS satisfaction,
        {_LAST.format(value="resolved", where="kind = 'callback'")} AS resolved,
        min(at) FILTER (WHERE kind = 'callback') AS first_callback_at,
        {_FIRST.format(value="satisfaction", where="kind = 'callback'")} AS first_satisfaction,
        {_FIRST.format(value="resolved", where="kind = 'callback'")} AS first_resolved,
        count(*) FILTER (WHERE kind = 'redo') AS redo_count,
        max(at) FILTER (WHERE kind = 'redo') AS last_redo,
        CASE WHEN {_LAST.format(value="kind", where="kind IN ('closed', 'redo')")} = 'closed'
             THEN max(at) FILTER (WHERE kind = 'closed') END AS closed_at
    FROM d_ev WHERE target IS NOT NULL GROUP BY 1, 2),
base AS (
    SELECT d.ticket_id, d.seq, d.unit_code, t.category_code, t.source, t.territorial_unit_code,
           coalesce(nullif(t.urgent_kind, ''), c.urgent_kind) AS urgent_kind,
           d.last AND NOT s.killed AS is_current, d.dispatched_at,
           coalesce(a.last_redo, d.dispatched_at) AS clock_started_at,
           a.signed_at, a.returned_at, a.return_reason, a.suggested_unit_code, a.first_replied_at, a.finished_at,
           a.reply_kind, coalesce(a.extended_days, 0)::integer AS extended_days, a.plan_date, a.callback_at,
           a.satisfaction, a.resolved, a.first_callback_at, a.first_satisfaction, a.first_resolved,
           coalesce(a.redo_count, 0)::integer AS redo_count, a.closed_at,
           least(a.returned_at, a.finished_at, a.closed_at,
                 CASE WHEN NOT s.killed THEN d.next_dispatch END) AS open_until,
           count(a.returned_at) OVER (PARTITION BY d.ticket_id)::integer AS ticket_return_count,
           a.returned_at IS NOT NULL AND d.seq = max(d.seq) FILTER (WHERE a.returned_at IS NOT NULL)
               OVER (PARTITION BY d.ticket_id, d.unit_code) AS last_return_of_unit
    FROM disp d JOIN spans s USING (ticket_id, seq) LEFT JOIN acts a USING (ticket_id, seq)
    JOIN tickets t ON t.id = d.ticket_id LEFT JOIN categories c ON c.code = t.category_code),
due AS (
    SELECT b.*,
           CASE WHEN u.hours IS NOT NULL AND (ch.reply_n IS NULL
                     OR b.dispatched_at + u.hours * interval '1 hour' < rr.day + {_EOD})
                THEN b.dispatched_at + u.hours * interval '1 hour'
                WHEN ch.reply_n IS NOT NULL THEN rr.day + {_EOD} END AS reply_due,
           CASE WHEN b.plan_date IS NOT NULL
                THEN least(b.plan_date, b.dispatched_at::date + CAST(:plan_max AS integer)) + {_EOD}
                ELSE rc.day + {_EOD} END AS completion_due,
           rw.day + {_EOD} AS return_until,
           coalesce(wd.known AND ws.known AND rc.k IS NOT NULL AND rw.k IS NOT NULL
                    AND rc.unknown_cum = ws.unknown_cum AND rw.unknown_cum = wd.unknown_cum
                    AND (ch.reply_n IS NULL OR (rr.k IS NOT NULL AND rr.unknown_cum = wd.unknown_cum)), false)
               AS calendar_known
    FROM base b
    JOIN unnest(CAST(:channels AS text[]), CAST(:reply_n AS integer[]), CAST(:completion_n AS integer[]))
         AS ch (name, reply_n, completion_n) ON ch.name = b.source
    LEFT JOIN unnest(CAST(:urgent AS text[]), CAST(:urgent_hours AS integer[])) AS u (kind, hours)
         ON u.kind = b.urgent_kind
    LEFT JOIN work_days wd ON wd.day = b.dispatched_at::date
    LEFT JOIN work_days ws ON ws.day = b.clock_started_at::date
    LEFT JOIN nth_workday rr ON rr.k = wd.cum + ch.reply_n
    LEFT JOIN nth_workday rc ON rc.k = ws.cum + ch.completion_n + least(b.extended_days, CAST(:extension_max AS integer))
    LEFT JOIN nth_workday rw ON rw.k = wd.cum + CAST(:return_window AS integer))
SELECT due.*,
       signed_at IS NOT NULL AND signed_at - dispatched_at <= :response AS responded_in_time,
       CASE WHEN returned_at IS NOT NULL THEN returned_at <= return_until END AS returned_in_window,
       returned_at IS NULL OR returned_at > return_until AS counted,
       ticket_return_count >= 2 AND last_return_of_unit AS charged_returned_twice,
       EXISTS (SELECT FROM unnest(CAST(:law_codes AS text[])) s (code) WHERE starts_with(category_code, s.code))
           AS law_enforcement,
       open_until IS NULL AS is_open,
       CASE WHEN open_until IS NOT NULL THEN {span_sql("dispatched_at", "open_until")} END AS span_class
FROM due
"""

_ASSIGNMENT_COLUMNS = [c.name for c in Assignment.__table__.columns if c.name != "id"]   # each one in d_asg


def _clock(clock: Clock, at: str, **flags: str) -> str:
    """One row of ``assignments.clock_rows``: the clock, its time, the flags it sets (others 0)."""
    values = [flags.get(f, "0") for f in CLOCK_FLAGS if f != "counted"]
    return f"({int(clock)}, {at}, {', '.join(values)})"


_CALLBACK = {"resolved": "(a.{p}resolved IS TRUE)::int", "judged": "(a.{p}resolved IS NOT NULL)::int",
             "satisfied": "coalesce(a.{p}satisfaction = ANY(:satisfied), false)::int",
             "evaluated": "(a.{p}satisfaction IS NOT NULL)::int"}
_FLAGS = [f for f in CLOCK_FLAGS if f != "counted"]
# clock_rows: the dispatch and the return count always, the other clocks only when counted.
_CLOCKS = f"""
INSERT INTO assignment_clocks (ticket_id, seq, clock, at, unit_code, category_code, "current", counted,
                               {', '.join(_FLAGS)})
SELECT a.ticket_id, a.seq, v.clock, v.at, a.unit_code, a.category_code, a.is_current::int, a.counted::int,
       {', '.join('v.' + f for f in _FLAGS)}
FROM d_asg a CROSS JOIN LATERAL (VALUES
    {_clock(Clock.DISPATCHED, "a.dispatched_at", responded="(a.counted AND a.responded_in_time)::int",
            returned="(a.returned_at IS NOT NULL)::int", returned_twice="a.charged_returned_twice::int")},
    {_clock(Clock.RETURNED, "a.returned_at", returned="1", late="(NOT a.returned_in_window)::int")},
    {_clock(Clock.FIRST_REPLIED, "CASE WHEN a.counted THEN a.first_replied_at END",
            redone="(a.redo_count > 0)::int")},
    {_clock(Clock.COMPLETION_DUE, "CASE WHEN a.counted THEN a.completion_due END",
            late="(a.finished_at IS NULL OR a.finished_at > a.completion_due)::int")},
    {_clock(Clock.CALLBACK, "CASE WHEN a.counted THEN a.callback_at END",
            **{k: v.format(p="") for k, v in _CALLBACK.items()})},
    {_clock(Clock.FIRST_CALLBACK, "CASE WHEN a.counted THEN a.first_callback_at END",
            **{k: v.format(p="first_") for k, v in _CALLBACK.items()})}
) AS v (clock, at, {', '.join(_FLAGS)})
WHERE v.at IS NOT NULL
"""

_ISO = ("to_char({t}, 'YYYY-MM-DD HH24:MI:SS') || CASE WHEN extract(microseconds FROM {t})::int % 1000000 <> 0 "
        "THEN to_char({t}, '.US') ELSE '' END")   # datetime.isoformat(sep=" ")
# analysis_due and derive_many's queue entry: at the second return, or ownership_hours after the
# first dispatch when the ticket was returned by then and no unit held it accepted.
_QUEUE = f"""
INSERT INTO analysis_queue (ticket_id, queued_at, chain, fallback_unit_code, twice_at, finished_at)
SELECT ticket_id, least(twice_at, CASE WHEN first_return <= deadline AND NOT accepted THEN deadline END),
       chain, fallback_unit_code, twice_at, finished_at
FROM (SELECT ticket_id, min(returned_at) AS first_return, min(deadline) AS deadline,
             (array_agg(returned_at ORDER BY returned_at) FILTER (WHERE returned_at IS NOT NULL))[2] AS twice_at,
             coalesce(bool_or(signed_at <= deadline AND (returned_at IS NULL OR returned_at > deadline)), false)
                 AS accepted,
             max(finished_at) FILTER (WHERE is_current) AS finished_at, min(territorial_unit_code) AS fallback_unit_code,
             json_agg(json_build_object('unit', unit_code, 'returned_at', {_ISO.format(t="returned_at")},
                                        'reason', return_reason, 'suggested', suggested_unit_code) ORDER BY seq)
                 FILTER (WHERE returned_at IS NOT NULL) AS chain
      FROM (SELECT d_asg.*, min(dispatched_at) OVER (PARTITION BY ticket_id) + :ownership AS deadline
            FROM d_asg) a
      GROUP BY ticket_id) q
WHERE first_return IS NOT NULL
  AND least(twice_at, CASE WHEN first_return <= deadline AND NOT accepted THEN deadline END) IS NOT NULL
"""


def derive(conn, cal: WorkCalendar, rules: Rules, ticket_ids: list[int]) -> None:
    """The assignments, clock rows, per-day rollup and analysis-queue entries of these tickets,
    new in this transaction (nothing derived of them yet), from their stored events."""
    if not ticket_ids:
        return
    names = list(rules.channels)
    with Session(bind=conn) as session:
        codes = sorted(law_codes(session))
    conn.execute(text(_EVENTS), {"ids": ticket_ids})
    conn.execute(text(_ASSIGNMENTS), {
        "requires_consent": rules.extension_requires_consent, "plan_max": rules.plan_max_calendar_days,
        "channels": names, "reply_n": [rules.channels[c].reply_working_days for c in names],
        "completion_n": [rules.channels[c].completion_working_days for c in names],
        "urgent": list(rules.urgent_reply_hours), "urgent_hours": list(rules.urgent_reply_hours.values()),
        "extension_max": rules.extension_max_working_days, "return_window": rules.return_window_working_days,
        "response": timedelta(hours=rules.response_hours), "law_codes": codes})
    unknown = conn.scalar(text("SELECT min(dispatched_at) FROM d_asg WHERE NOT calendar_known"))
    if unknown is not None:   # as compute_deadlines raises; the batch path then names the ticket and year
        raise UnknownYearError(unknown.year if not cal.knows(unknown.year) else cal.last_year + 1, cal.calendar_file)
    conn.execute(text(f"INSERT INTO assignments ({', '.join(_ASSIGNMENT_COLUMNS)}) "
                      f"SELECT {', '.join(_ASSIGNMENT_COLUMNS)} FROM d_asg"))
    conn.execute(text(_CLOCKS), {"satisfied": list(SATISFIED)})
    with Session(bind=conn) as session:
        roll_days(session, ticket_ids, +1)
    conn.execute(text(_QUEUE), {"ownership": timedelta(hours=rules.ownership_dispute_hours)})
