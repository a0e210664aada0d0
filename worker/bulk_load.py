"""The import on PostgreSQL as a bulk load: a staging table and set-based SQL.

Storing batch by batch (``importer._store``) costs a round of statements per 5,000 rows and an
UPDATE of every new ticket after its events (its last event time); the database spends most of
an import on that, not on the rows themselves.  Here the rows are read and checked exactly as
there (``importer.import_rows``: the same parser, the same refusals), then copied into a temporary
staging table by one ``COPY``; from it, in chunks of tickets, one transaction each:

- tickets new to the database are inserted by one ``INSERT … SELECT DISTINCT ON`` (the fields of
  a ticket's last row, its last event time and life class), their events by one ``INSERT …
  SELECT`` (a row repeated in the export stored once, an event before the ticket's first 交办
  refused with its line, the events' ids in the order the batch path gives them, which breaks
  ties of time in the replay); their assignments, clock rows, per-day rollup and analysis-queue
  entries are derived from those events in the database, by the SQL twin of the replay
  (``worker.bulk_derive``: window functions over the events and the calendar's working-day
  table, ``INSERT … SELECT``; why a twin and what keeps it equal is said there);
- tickets already stored whose export rows say exactly what is stored are counted unchanged by
  one comparison of sets (``EXCEPT`` both ways), nothing written;
- tickets already stored that the export changes (an event added or corrected, a field
  corrected) go through the batch path, which keeps and audits each correction
  (``importer._store_or_isolate``): a re-export's few changed tickets, read back from staging.

A chunk the database refuses (a value too long for its column, a due time in a year the
calendar lacks) is rolled back and stored by the batch path, which isolates the bad ticket and
reports its lines.  Memory is bounded: the staging table holds the file, the chunk's work tables
are the database's.
"""
from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import text

from . import importer
from .bulk_derive import derive, drop_calendar_table, load_calendar_table, span_sql
from .db import refresh_statistics
from .importer import (
    EVENT_FIELDS,
    STORE_ERRORS,
    TICKET_FIELDS,
    ImportReport,
    _store_or_isolate,
    import_rows,
)

CHUNK_ROWS = 50_000   # rows derived per transaction: bounds the work tables of a transaction
_TYPES = {"received_at": "timestamp", "at": "timestamp", "plan_date": "date", "review_passed": "boolean",
          "consent": "boolean", "resolved": "boolean", "days": "integer"}
_STAGED = ("line", "number", *TICKET_FIELDS, *EVENT_FIELDS)
_LIFE = span_sql("c.received_at", "l.last")   # assignments.life_class


def import_bulk(session_factory, path, cal, rules, mapping, encoding, batch_size, progress) -> ImportReport:
    """Import one export through the staging table (see the module's docstring)."""
    engine = session_factory.kw["bind"]
    with engine.connect() as conn:
        conn.execute(text(f"CREATE TEMP TABLE import_stage ({', '.join(f'{f} {_type(f)}' for f in _STAGED)})"))
        driver = conn.connection.driver_connection

        def stage(batch, report):
            if batch is None:   # the file changed: what was read before is stored, as the batch path would
                _load(conn, session_factory, str(path), cal, rules, report, batch_size)
                return
            # Binary: the values go as the parser typed them (each text field a str, days bounded), and
            # the server parses no text: half the time of the text format.
            with driver.cursor() as cur, cur.copy(f"COPY import_stage ({', '.join(_STAGED)}) FROM STDIN "
                                                  "(FORMAT BINARY)") as copy:
                copy.set_types([_type(f) for f in _STAGED])
                for line, number, ticket, event in batch:
                    copy.write_row([line, number, *(ticket[f] for f in TICKET_FIELDS),
                                    *(event[f] for f in EVENT_FIELDS)])

        report = import_rows(session_factory, path, cal, rules, mapping, encoding, False, batch_size, progress, stage=stage)
        _load(conn, session_factory, str(path), cal, rules, report, batch_size)
    if report.events_new >= importer.ANALYZE_AFTER_EVENTS:
        refresh_statistics(session_factory)
    return report


def _type(name: str) -> str:
    return _TYPES.get(name, "integer" if name == "line" else "text")


def _load(conn, session_factory, path: str, cal, rules, report: ImportReport, batch_size: int) -> None:
    """Everything staged, into the tables: the new tickets in chunks, the changed ones by the batch path."""
    # A chunk's rows found by their tickets' numbers: without the index each chunk read the whole
    # staging table (31 chunks of a 200 k-ticket file, 46 M rows read, 15 % of the import).
    conn.execute(text("CREATE INDEX ON import_stage (number)"))
    conn.execute(text("ANALYZE import_stage (number, line, kind, at)"))   # what the plans below group and join on
    conn.execute(text(
        "CREATE TEMP TABLE stage_tickets AS SELECT s.number, min(s.line) AS first_line, count(*) AS rows, t.id AS "
        "ticket_id FROM import_stage s LEFT JOIN tickets t ON t.number = s.number GROUP BY s.number, t.id"))
    conn.execute(text("ANALYZE stage_tickets"))
    conn.commit()
    _known(conn, session_factory, path, cal, rules, report, batch_size)
    fresh = conn.execute(text("SELECT first_line, rows FROM stage_tickets WHERE ticket_id IS NULL "
                              "ORDER BY first_line")).all()
    load_calendar_table(conn, cal)
    conn.commit()   # kept by the session whatever a chunk's transaction does
    start, rows = 0, 0
    for i, (first_line, n) in enumerate(fresh):
        rows += n
        if rows >= CHUNK_ROWS or i == len(fresh) - 1:
            high = fresh[i + 1][0] if i + 1 < len(fresh) else None
            _fresh_chunk(conn, session_factory, path, cal, rules, report, batch_size, fresh[start][0], high)
            start, rows = i + 1, 0
    drop_calendar_table(conn)
    conn.execute(text("DROP TABLE import_stage, stage_tickets, stage_changed"))
    conn.commit()


def _known(conn, session_factory, path, cal, rules, report, batch_size) -> None:
    """Tickets already stored: unchanged ones counted, the others stored by the batch path."""
    row = f"ROW({', '.join(EVENT_FIELDS)})::text"
    differs = " OR ".join(f"l.{f} IS DISTINCT FROM t.{f}" for f in TICKET_FIELDS)
    # A ticket's events as one sorted text each side: equal texts, the same events (hash joins, no
    # per-ticket probes).
    conn.execute(text(f"""
        CREATE TEMP TABLE stage_changed AS
        WITH known AS (SELECT number, ticket_id, rows FROM stage_tickets WHERE ticket_id IS NOT NULL),
        staged AS (SELECT s.number, string_agg(DISTINCT {row}, '|' ORDER BY {row}) AS events
                   FROM import_stage s JOIN known k ON k.number = s.number GROUP BY s.number),
        stored AS (SELECT e.ticket_id, string_agg({row}, '|' ORDER BY {row}) AS events
                   FROM ticket_events e JOIN known k ON k.ticket_id = e.ticket_id GROUP BY e.ticket_id),
        latest AS (SELECT DISTINCT ON (s.number) s.* FROM import_stage s JOIN known k ON k.number = s.number
                   ORDER BY s.number, s.line DESC)
        SELECT k.number, k.rows, ({differs} OR staged.events IS DISTINCT FROM stored.events) AS changed
        FROM known k JOIN tickets t ON t.id = k.ticket_id JOIN latest l ON l.number = k.number
        JOIN staged ON staged.number = k.number LEFT JOIN stored ON stored.ticket_id = k.ticket_id
        """))
    report.rows_unchanged += conn.scalar(text("SELECT coalesce(sum(rows), 0) FROM stage_changed WHERE NOT changed"))
    _batch_path(conn, session_factory, path, cal, rules, report, batch_size,
                "s.number IN (SELECT number FROM stage_changed WHERE changed)", {})
    conn.commit()


def _batch_path(conn, session_factory, path, cal, rules, report, batch_size, where: str, params: dict) -> None:
    """The staged rows matching WHERE, stored by the batch path, a ticket's rows in one batch."""
    rows = conn.execute(text(f"SELECT {', '.join(_STAGED)} FROM import_stage s WHERE {where} "
                             "ORDER BY s.number, s.line").execution_options(yield_per=batch_size), params)
    batch: list[tuple[int, str, dict, dict]] = []
    for row in rows:
        if len(batch) >= batch_size and batch[-1][1] != row.number:
            _store_or_isolate(session_factory, path, batch, cal, rules, report, OrderedDict())
            batch = []
        batch.append((row.line, row.number, {f: getattr(row, f) for f in TICKET_FIELDS},
                      {f: getattr(row, f) for f in EVENT_FIELDS}))
    if batch:
        _store_or_isolate(session_factory, path, batch, cal, rules, report, OrderedDict())


def _fresh_chunk(conn, session_factory, path, cal, rules, report, batch_size, low: int, high: int | None) -> None:
    """The new tickets whose first line is in [low, high): one transaction, or the batch path."""
    bounds = "t.first_line >= :low" + ("" if high is None else " AND t.first_line < :high")
    params = {"low": low, "high": high}
    counts = {f: getattr(report, f) for f in ("rows_stored", "rows_unchanged", "tickets_new", "events_new")}
    errors = len(report.errors)
    try:
        _insert_fresh(conn, path, cal, rules, report, bounds, params)
        conn.commit()
        return
    except STORE_ERRORS:
        conn.rollback()
    for f, v in counts.items():
        setattr(report, f, v)
    del report.errors[errors:]
    _batch_path(conn, session_factory, path, cal, rules, report, batch_size,
                f"s.number IN (SELECT t.number FROM stage_tickets t WHERE t.ticket_id IS NULL AND {bounds})", params)


def _insert_fresh(conn, path, cal, rules, report, bounds: str, params: dict) -> None:
    fields = ", ".join(EVENT_FIELDS)
    # Each row with what the batch path decides of it: refused (before the first 交办), a repeat of
    # an earlier row (stored once), and its kind's first line (the order events get their ids in).
    conn.execute(text(f"""
        CREATE TEMP TABLE chunk ON COMMIT DROP AS
        SELECT c.*, (c.kind <> 'dispatched' AND (c.first_dispatch IS NULL OR c.at < c.first_dispatch)) AS refused
        FROM (SELECT s.*, t.first_line,
                     min(s.at) FILTER (WHERE s.kind = 'dispatched') OVER (PARTITION BY s.number) AS first_dispatch,
                     min(s.line) OVER (PARTITION BY s.number, s.kind) AS kind_line,
                     row_number() OVER (PARTITION BY s.number, {fields} ORDER BY s.line) AS copy_no
              FROM import_stage s JOIN stage_tickets t ON t.number = s.number
              WHERE t.ticket_id IS NULL AND {bounds}) c"""), params)
    for line, number, kind, at, first in conn.execute(text(
            "SELECT line, number, kind, at, first_dispatch FROM chunk WHERE refused ORDER BY line")):
        report.errors.append(f"{path}:{line}: ticket {number}: a '{kind}' event at {at} comes before the ticket "
                             "was dispatched" + (f" ({first})" if first is not None else " (no 交办 event)"))
    ticket_fields = ", ".join(TICKET_FIELDS)
    ids = dict(conn.execute(text(f"""
        INSERT INTO tickets (number, {ticket_fields}, last_event_at, life_class)
        SELECT DISTINCT ON (c.number) c.number, {', '.join(f'c.{f}' for f in TICKET_FIELDS)}, l.last,
               CASE WHEN l.last IS NULL THEN NULL ELSE {_LIFE} END
        FROM chunk c LEFT JOIN (SELECT number, max(at) AS last FROM chunk WHERE NOT refused GROUP BY number) l
             ON l.number = c.number
        ORDER BY c.number, c.line DESC
        RETURNING id, number""")).all())
    report.tickets_new += len(ids)
    inserted = conn.execute(text(f"""
        INSERT INTO ticket_events (ticket_id, {fields})
        SELECT t.id, {', '.join(f'c.{f}' for f in EVENT_FIELDS)}
        FROM chunk c JOIN tickets t ON t.number = c.number
        WHERE NOT c.refused AND c.copy_no = 1
        ORDER BY c.kind_line, c.at, c.line""")).rowcount
    report.rows_unchanged += conn.scalar(text("SELECT count(*) FROM chunk WHERE NOT refused AND copy_no > 1"))
    report.rows_stored += inserted
    report.events_new += inserted
    derive(conn, cal, rules, sorted(ids))

