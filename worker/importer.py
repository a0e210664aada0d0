"""Import of the hotline platform's exports (CSV, XLSX, JSONL), one event per row.

Driven by a column-mapping YAML (``config/import-mapping.yaml``), so an export with Chinese
headers reads as is.  Rows are validated one by one; good rows are stored in batches (one
transaction per batch: a row is stored whole or not at all), bad rows are reported with
``file:line`` and the reason.  Importing the same file again changes nothing.

Identity: a ticket is its 工单编号; an event is (ticket, kind, its place among that ticket's events
of that kind in time order) — the second 签收 of a ticket is the second 签收 whatever its time.  A
newer export appends the events not yet stored and *corrects* the stored ones whose fields
changed (a 签收 moved by an hour replaces the stored one, it is not a second 签收); corrected
ticket fields (诉求内容…) replace the stored ones.  Every correction is kept in
``import_corrections`` (file, line, old and new value) and the affected assignments are derived
again.  An export is expected to carry each ticket's whole history, its rows together (the
platform's export does); a batch never splits a ticket.  Timestamps without a zone are
Asia/Shanghai.
"""
from __future__ import annotations

import itertools
import math
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal, overload

import psycopg
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from .assignments import refresh
from .calendar import UnknownYearError
from .config import ConfigError
from .db import bulk_insert, refresh_statistics, table_of
from .event_matching import EVENT_FIELDS, audit_value, match_events
from .export_reading import ImportFileError, Mapping, encoding_label, read_rows
from .models import Category, EventKind, ImportCorrection, Ticket, TicketEvent, Unit
from .times import now_local, parse_local

TICKET_FIELDS = ("source", "category_code", "urgent_kind", "content", "caller_name", "caller_phone",
                 "address", "territorial_unit_code", "received_at")
SATISFACTION = {"satisfied", "basically_satisfied", "unsatisfied"}
EVENT_KINDS = frozenset(k.value for k in EventKind)
ANALYZE_AFTER_EVENTS = 20_000  # a bulk load: refresh the planner's statistics at once
# Rows stored per transaction: 5,000 stored a 20 k-ticket export 9 % faster than 2,000 (fewer
# statements per row), and a year of 2 M tickets within 200 MB.
BATCH_ROWS = 5000
REPLY_KINDS = {"normal", "out_of_scope", "not_true", "explained", "planned"}
_ABSENT = object()   # a field the row does not have (apart from one it has, empty)
# What Excel makes of a long number saved as CSV: 9.80000E+14 (its digits are lost).
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+")


@dataclass
class ImportReport:
    path: str
    rows: int = 0               # data rows read
    rows_stored: int = 0        # rows that added or corrected something
    rows_unchanged: int = 0     # rows already stored exactly so
    tickets_new: int = 0
    tickets_corrected: int = 0
    events_new: int = 0
    events_corrected: int = 0
    encoding: str | None = None  # detected (CSV, JSONL); None for a workbook
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # rows stored with a note

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, dry_run: bool = False) -> str:
        """One line for the operator: rows read, stored, unchanged and refused, kept apart."""
        if dry_run:
            return (f"{self.rows} rows read: {self.rows - len(self.errors)} valid, {len(self.errors)} refused "
                    f"(dry run, nothing stored){self._encoding()}")
        return (f"{self.rows} rows read: {self.rows_stored} stored, {self.rows_unchanged} unchanged, "
                f"{len(self.errors)} refused; tickets {self.tickets_new} new, {self.tickets_corrected} corrected; "
                f"events {self.events_new} new, {self.events_corrected} corrected{self._encoding()}")

    def _encoding(self) -> str:
        return f"; encoding {self.encoding}" if self.encoding else ""


# -- validating one row -----------------------------------------------------------------------
class RowError(Exception):
    pass


class RowParser:
    def __init__(self, mapping: Mapping, units: set[str], categories: set[str], channels: set[str],
                 now: datetime, plan_max_days: int = 90):
        self.m, self.units, self.categories, self.channels = mapping, units, categories, channels
        self.latest = now + mapping.future_tolerance
        self.plan_max_days = plan_max_days
        self.warnings: list[str] = []   # about the row just parsed: stored, with a note
        # Where a row holds the ticket's fields (a field is read under its header, else its name).
        self.ticket_columns = [c for name in TICKET_FIELDS + ("number",) for c in (mapping.columns.get(name), name) if c]
        self.last_ticket: tuple[list, tuple[str, dict]] | None = None   # (its fields as read, as parsed)
        self.headers = {name: mapping.columns.get(name) for name in TICKET_FIELDS + EVENT_FIELDS + ("number",)}

    def raw(self, row: dict, name: str):
        header = self.headers[name]
        value = row.get(header, _ABSENT) if header else _ABSENT
        if value is _ABSENT:
            value = row.get(name)
        if isinstance(value, str):   # the common case (every CSV cell), checked first
            value = value.strip()
            if "\x00" in value:
                raise RowError(f"{header or name}: contains a NUL character")
            return value or None
        if isinstance(value, dict | list):
            raise RowError(f"{header or name}: {str(value)[:40]} is not a single value")
        if isinstance(value, float) and not math.isfinite(value):
            raise RowError(f"{header or name}: {value} is not a value")
        return value

    def word(self, row: dict, name: str):
        value = self.raw(row, name)
        if value is None:
            return None
        table = self.m.values.get(name) or {}
        text = str(value)
        if text in table:
            return table[text]
        if text in table.values() or not table:
            return text
        raise RowError(f"{self.m.columns.get(name, name)}: unknown value {text!r} (expected one of {', '.join(table)})")

    def flag(self, row: dict, name: str) -> bool | None:
        value = self.word(row, name)
        if value is None or isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise RowError(f"{self.m.columns.get(name, name)}: {value!r} is not yes/no")

    @overload
    def time(self, row: dict, name: str, required: Literal[True]) -> datetime: ...
    @overload
    def time(self, row: dict, name: str, required: bool = False) -> datetime | None: ...

    def time(self, row: dict, name: str, required: bool = False) -> datetime | None:
        value = self.raw(row, name)
        if value is None:
            if required:
                raise RowError(f"{self.m.columns.get(name, name)} is missing")
            return None
        try:
            moment = value if isinstance(value, datetime) else parse_local(str(value))
        except ValueError:
            raise RowError(f"{self.m.columns.get(name, name)}: bad timestamp {value!r}") from None
        if moment.tzinfo is not None:
            moment = parse_local(moment.isoformat())
        if moment > self.latest:
            raise RowError(f"{self.m.columns.get(name, name)}: {moment} is in the future")
        return moment

    def unit(self, row: dict, name: str) -> str | None:
        code = self.raw(row, name)
        if code is not None and str(code) not in self.units:
            raise RowError(f"{self.m.columns.get(name, name)}: unknown unit {code!r} (not in the directory)")
        return None if code is None else str(code)

    def parse(self, row: dict) -> tuple[str, dict, dict]:
        if "__error__" in row:
            raise RowError(row["__error__"])
        # An export repeats the ticket's fields on each of its events, rows together: the fields
        # of the row before, read the same, parse the same (a third of the parsing, saved).
        key = [row.get(column, _ABSENT) for column in self.ticket_columns]
        if self.last_ticket is not None and key == self.last_ticket[0]:
            number, ticket = self.last_ticket[1]
        else:
            number, ticket = self.ticket(row)
            self.last_ticket = (key, (number, ticket))
        return number, ticket, self.event(row, ticket["received_at"])

    def ticket(self, row: dict) -> tuple[str, dict]:
        """(工单编号, the ticket's fields) of a row."""
        number = self.raw(row, "number")
        if number is None:
            raise RowError(f"{self.m.columns['number']} (工单编号) is missing")
        number = self.number(number)
        source = self.word(row, "source")
        if source not in self.channels:
            raise RowError(f"{self.m.columns.get('source')}: unknown source channel {source!r}")
        category = self.raw(row, "category_code")
        category = None if category is None else str(category)
        if category not in self.categories:
            raise RowError(f"{self.m.columns.get('category_code')}: unknown category {category!r}")
        content = str(self.raw(row, "content") or "")
        if len(content) > self.m.max_content_chars:
            raise RowError(f"{self.m.columns.get('content')}: {len(content)} characters, more than the "
                           f"limit of {self.m.max_content_chars}")
        received = self.time(row, "received_at", required=True)
        return number, {"source": source, "category_code": category, "urgent_kind": _text(self.word(row, "urgent_kind")),
                        "content": content, "caller_name": _text(self.raw(row, "caller_name")),
                        "caller_phone": _text(self.raw(row, "caller_phone")), "address": _text(self.raw(row, "address")),
                        "territorial_unit_code": self.unit(row, "territorial_unit_code"),
                        "received_at": received}

    def number(self, value) -> str:
        """A 工单编号 as the mapping's ``number_pattern`` has it: a number Excel rounded (a float cell,
        or 9.80000E+14 in a CSV it saved) would merge tickets, so it is refused, never guessed."""
        header = self.m.columns["number"]
        if isinstance(value, float) or (isinstance(value, str) and _SCIENTIFIC.fullmatch(value)):
            raise RowError(f"{header}: {str(value)[:40]!r} is not a ticket number: a spreadsheet stored it as a "
                           f"number and rounded its digits; export the column as text")
        text = str(value)
        if not self.m.number_pattern.fullmatch(text):
            raise RowError(f"{header}: {text[:40]!r} is not a ticket number (the mapping's number_pattern is "
                           f"{self.m.number_pattern.pattern})")
        return text

    def event(self, row: dict, received: datetime) -> dict:
        """The event of a row (its time checked against the ticket's receipt)."""
        kind = self.word(row, "kind")
        if kind not in EVENT_KINDS:
            raise RowError(f"{self.m.columns['kind']}: unknown event {kind!r}")
        at = self.time(row, "at", required=True)
        if at < received:
            raise RowError(f"{self.m.columns.get('at')}: {at} is before the ticket was received "
                           f"({self.m.columns.get('received_at')} {received})")
        unit = self.unit(row, "unit_code")
        if kind in ("dispatched", "signed", "returned", "replied", "contacted") and not unit:
            raise RowError(f"{self.m.columns.get('unit_code')}: a '{kind}' event needs the unit")
        days = self.raw(row, "days")
        try:
            days = None if days is None else int(float(days))
        except (ValueError, OverflowError):
            raise RowError(f"{self.m.columns.get('days')}: {days!r} is not a number of days") from None
        if days is not None and not 0 <= days <= 3650:
            raise RowError(f"{self.m.columns.get('days')}: {days} days of extension; expected 0 to 3650 "
                           f"(the policy allows 10 working days)")
        satisfaction = self.word(row, "satisfaction")
        if satisfaction is not None and satisfaction not in SATISFACTION:
            raise RowError(f"{self.m.columns.get('satisfaction')}: unknown evaluation {satisfaction!r}")
        reply_kind = self.word(row, "reply_kind")
        if reply_kind is not None and reply_kind not in REPLY_KINDS:
            raise RowError(f"{self.m.columns.get('reply_kind')}: unknown reply kind {reply_kind!r}")
        event = {"kind": kind, "at": at, "unit_code": unit or "", "reason": _text(self.raw(row, "reason")),
                 "note": _text(self.raw(row, "note")),
                     "suggested_unit_code": self.unit(row, "suggested_unit_code"), "reply_kind": reply_kind,
                     "review_passed": self.flag(row, "review_passed"), "days": days, "consent": self.flag(row, "consent"),
                     "plan_date": _plan_date(self.raw(row, "plan_date"), self.m.columns.get("plan_date")),
                     "satisfaction": satisfaction, "resolved": self.flag(row, "resolved"),
                     "contact_person": _text(self.raw(row, "contact_person")),
                     "contact_phone": _text(self.raw(row, "contact_phone"))}
        for name, limit in (("contact_person", 100), ("contact_phone", 40)):
            if event[name] is not None and len(event[name]) > limit:
                raise RowError(f"{self.m.columns.get(name)}: {len(event[name])} characters, more than {limit}")
        if event["plan_date"] and (event["plan_date"] - at.date()).days > self.plan_max_days:
            self.warnings.append(f"{self.m.columns.get('plan_date')}: {event['plan_date']} is more than "
                                 f"{self.plan_max_days} days after the event; the due time is capped at "
                                 f"{self.plan_max_days} days (列入计划)")
        return event


def _text(value) -> str | None:
    return None if value is None else str(value)


def _plan_date(value, header) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    try:
        return parse_local(str(value)).date()
    except ValueError:
        raise RowError(f"{header}: bad date {value!r}") from None


# -- storing ----------------------------------------------------------------------------------
def import_rows(session_factory, path, cal, rules, mapping, encoding, dry_run, batch_size, progress,
            stage=None) -> ImportReport:
    """Read, check and store an export batch by batch; ``stage(batch, report)``: where the checked
    batches go instead of being stored (``worker.bulk_load``); ``stage(None, report)`` stores what it
    holds, before the import stops at a file that changed."""
    path = Path(path)
    mapping = mapping or Mapping.load()
    report = ImportReport(str(path))
    with session_factory() as s:
        units = set(s.scalars(select(Unit.code)))
        categories = set(s.scalars(select(Category.code)))
    parser = RowParser(mapping, units, categories, set(rules.channels), now_local(), rules.plan_max_calendar_days)
    # Conflicting duplicates are looked for among the recent tickets only (exports list a ticket's
    # events together): bounded memory however large the file.  Each entry also counts the
    # ticket's events by kind in earlier batches, for a ticket whose rows are not together.
    first_seen: OrderedDict[str, tuple[int, dict, Counter]] = OrderedDict()
    batch: list[tuple[int, str, dict, dict]] = []
    meta: dict = {}
    state = FileState.of(path)
    if state is None:
        raise ImportFileError(f"{path}: file not found")
    rows = read_rows(path, encoding, meta)
    # Fail on the file as a whole (format, encoding, header) before any row is stored.
    first = next(rows, None)
    report.encoding = encoding_label(path, meta["encoding"]) if meta.get("encoding") else None
    if first is None:
        raise ImportFileError(f"{path}: no data rows (a header at most); nothing to import")
    pending = [first]
    if "__error__" not in first[1]:
        missing = [mapping.columns[f] for f in ("number", "kind", "at")
                   if mapping.columns[f] not in first[1] and f not in first[1]]
        if missing:
            raise ImportFileError(f"{path}: missing column(s) {', '.join(missing)}; is this the platform's export, "
                                  f"or does it need its own --mapping?")

    statistics = None if dry_run or stage else GrowthStatistics(session_factory)

    def flush():
        try:
            state.check(path, report, batch[0][0] if batch else None)   # what is stored was read from one file
        except FileChangedError:
            if stage:   # what was staged before the change is stored first, and counted in the message
                stage(None, report)
                state.check(path, report, batch[0][0] if batch else None)
            raise
        if batch and stage:
            stage(batch, report)
        elif batch and not dry_run:
            _store_or_isolate(session_factory, path, list(batch), cal, rules, report, first_seen)
            assert statistics is not None   # made whenever rows are stored here
            statistics.after(report.events_new)
        batch.clear()

    for line, row in itertools.chain(pending, rows):
        report.rows += 1
        if progress:
            progress(1)
        try:
            number, ticket, event = parser.parse(row)
            seen = first_seen.get(number)
            if seen is None:
                first_seen[number] = (line, ticket, Counter())
                if len(first_seen) > 50_000:
                    first_seen.popitem(last=False)
            else:
                for key in ("received_at", "caller_phone", "category_code", "source"):
                    if seen[1][key] != ticket[key]:
                        raise RowError(f"ticket {number}: {key} {ticket[key]!r} conflicts with line {seen[0]} "
                                       f"({seen[1][key]!r})")
        except (RowError, ConfigError) as exc:
            report.errors.append(f"{path}:{line}: {exc}")
            continue
        finally:
            report.warnings += [f"{path}:{line}: {w}" for w in parser.warnings]
            parser.warnings.clear()
        if len(batch) >= batch_size and batch[-1][1] != number:
            flush()   # only between tickets: a ticket's events are matched as a whole
        batch.append((line, number, ticket, event))
    flush()
    if report.events_new >= ANALYZE_AFTER_EVENTS:
        refresh_statistics(session_factory)
    return report


class FileChangedError(ImportFileError):
    """The file changed while it was read (still being written, or replaced): the rows stored so far
    were read before the change; the rest was not stored."""


@dataclass(frozen=True)
class FileState:
    """A file's identity and content stamp: size, modification time and inode."""
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileState | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    def check(self, path: Path, report: ImportReport, next_line: int | None) -> None:
        """Raise ``FileChangedError`` if the file is no longer as it was when the import opened it,
        saying what of it was stored."""
        now = FileState.of(path)
        if now == self:
            return
        if now is None:
            what = "it was removed or renamed"
        elif now.inode != self.inode:
            what = "it was replaced by another file"
        else:
            what = f"{self.size:,} bytes when opened, {now.size:,} now"
        kept = (f"the rows before line {next_line} were stored as read" if next_line is not None
                else "every row read was stored")
        raise FileChangedError(
            f"{path}: the file changed while it was being read ({what}); {kept} ({report.rows_stored} stored, "
            f"{report.rows_unchanged} unchanged, {len(report.errors)} refused), none after. Import it again once "
            "it is complete: the rows already stored are not stored twice")


class GrowthStatistics:
    """The planner's statistics kept up with a large import on PostgreSQL: ANALYZE whenever the
    events table has doubled since the planner last looked (from this import's first 20,000
    events).  Without it a fresh or unanalysed database is planned as empty: each batch's lookups
    of stored events and deletes of derived rows become sequential scans of the growing tables,
    and a 2 M-ticket import fell from 110,000 to 16,000 tickets a minute (autovacuum, when it runs
    at all, comes too late).  A few plain ANALYZEs (a sample of each table) in a whole year."""

    TABLES = ("tickets", "ticket_events", "assignments", "assignment_clocks", "analysis_queue")

    def __init__(self, session_factory):
        self.engine = session_factory.kw["bind"]
        self.on = self.engine.dialect.name == "postgresql"
        self.known = 0   # events in the table when the planner last looked (its estimate)
        if self.on:
            with self.engine.connect() as conn:
                self.known = max(0, int(conn.scalar(text(
                    "SELECT reltuples FROM pg_class WHERE relname = 'ticket_events'")) or 0))
        self.base = self.known   # events before this import (as far as the planner knew)

    def after(self, events_new: int) -> None:
        total = self.base + events_new
        if not self.on or events_new < ANALYZE_AFTER_EVENTS or total < 2 * self.known:
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in self.TABLES:
                conn.execute(text(f"ANALYZE {table}"))
            conn.execute(text("VACUUM clock_days"))   # small, and rewritten by every batch
        self.known = total


# What storing one ticket can meet that the row checks could not see: a due time in a year the
# calendar lacks, a value the database refuses (raised by the driver itself inside a COPY).
STORE_ERRORS = (UnknownYearError, DataError, psycopg.errors.DataError, ValueError, OverflowError)


def _store_or_isolate(session_factory, path, batch, cal, rules, report, first_seen) -> None:
    """Store a batch; when it fails, store its halves, down to the single ticket whose rows are then
    reported with the reason — the rest of the file is stored, nothing is half-written.  A failed
    attempt's counts are undone with its transaction, so the summary counts each row once and a
    retried half matches its events from the same place."""
    counts = {f: getattr(report, f) for f in ("rows_stored", "rows_unchanged", "tickets_new", "tickets_corrected",
                                             "events_new", "events_corrected")}
    errors, warnings = len(report.errors), len(report.warnings)
    seen = {n: Counter(first_seen[n][2]) for _, n, _, _ in batch if n in first_seen}
    try:
        _store(session_factory, path, batch, cal, rules, report, first_seen)
        return
    except STORE_ERRORS as exc:
        reason = exc
    for f, v in counts.items():
        setattr(report, f, v)
    del report.errors[errors:], report.warnings[warnings:]
    for n, kinds in seen.items():
        first_seen[n][2].clear()
        first_seen[n][2].update(kinds)
    tickets = list(dict.fromkeys(number for _, number, _, _ in batch))
    if len(tickets) == 1:
        why = str(getattr(reason, "orig", None) or reason).splitlines()[0]
        report.errors += [f"{path}:{line}: ticket {number}: {why}" for line, number, _, _ in batch]
        return
    half = set(tickets[: len(tickets) // 2])
    for part in ([b for b in batch if b[1] in half], [b for b in batch if b[1] not in half]):
        _store_or_isolate(session_factory, path, part, cal, rules, report, first_seen)


def _store(session_factory, path: Path, batch, cal, rules, report: ImportReport, first_seen) -> None:
    """One transaction for a batch: tickets inserted or corrected, events matched by identity
    (ticket, kind, place among the ticket's events of that kind) and inserted or corrected, the
    corrections audited, the touched tickets' assignments derived again."""
    corrected_at = now_local()
    with session_factory() as s, s.begin():
        latest: dict[str, tuple[int, dict]] = {}
        for line, number, ticket, _ in batch:
            latest[number] = (line, ticket)
        ids, fresh_tickets, touched, audit = _store_tickets(s, path, latest, report, corrected_at)
        matched = match_events(s, path, batch, ids, fresh_tickets, touched, first_seen, audit, corrected_at)
        inserts, replaced = matched.inserts, matched.replaced
        report.errors += matched.errors
        report.rows_stored += matched.rows_stored
        report.rows_unchanged += matched.rows_unchanged
        report.events_corrected += matched.events_corrected
        if replaced:   # removed first, so a corrected time may take another event's old place
            s.execute(delete(TicketEvent).where(TicketEvent.id.in_(replaced)))
        if inserts:
            bulk_insert(s, TicketEvent.__table__, inserts)
        report.events_new += len(inserts) - len(replaced)
        if audit:
            s.execute(table_of(ImportCorrection).insert(), audit)
        touched |= {e["ticket_id"] for e in inserts}
        # New tickets are derived from what is in hand: their events in insertion (id) order.
        fresh: dict[int, tuple[dict, list[dict]]] = {tid: (latest[n][1], []) for n, tid in ids.items()
                                                     if tid in fresh_tickets}
        for order, e in enumerate(inserts):
            if e["ticket_id"] in fresh:
                fresh[e["ticket_id"]][1].append({"id": order, **e})
        refresh(s, sorted(touched), cal, rules, fresh=fresh)


def _store_tickets(s: Session, path: Path, latest: dict[str, tuple[int, dict]], report: ImportReport,
                   corrected_at: datetime) -> tuple[dict[str, int], set[int], set[int], list[dict]]:
    """The batch's tickets (each as its last row has it): new ones inserted, stored ones whose fields
    the export changes corrected and audited.  (ids by number, the new tickets' ids, the tickets
    touched, the audit rows.)"""
    existing = {t.number: t for t in s.execute(select(Ticket.id, Ticket.number, *[getattr(Ticket, f)
                for f in TICKET_FIELDS]).where(Ticket.number.in_(list(latest))))}
    ids: dict[str, int] = {n: t.id for n, t in existing.items()}
    new = [dict(number=n, **t) for n, (_, t) in latest.items() if n not in existing]
    if new:
        bulk_insert(s, Ticket.__table__, new)
        ids.update(dict(s.execute(select(Ticket.number, Ticket.id).where(
            Ticket.number.in_([t["number"] for t in new]))).all()))
        report.tickets_new += len(new)
    audit: list[dict] = []
    touched: set[int] = set()
    for n, (line, t) in latest.items():
        old = existing.get(n)
        if old is None:
            continue
        changed = [f for f in TICKET_FIELDS if getattr(old, f) != t[f]]
        if changed:
            s.execute(update(Ticket).where(Ticket.id == old.id).values(**t))
            audit += [{"file": str(path), "line": line, "ticket_id": old.id, "target": "ticket", "field": f,
                       "old_value": audit_value(getattr(old, f)), "new_value": audit_value(t[f]),
                       "corrected_at": corrected_at} for f in changed]
            touched.add(old.id)
            report.tickets_corrected += 1
    fresh_tickets = {ids[t["number"]] for t in new}
    return ids, fresh_tickets, touched | fresh_tickets, audit
