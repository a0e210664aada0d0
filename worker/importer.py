"""Import of the hotline platform's exports (CSV, XLSX, JSONL), one event per row.

Driven by a column-mapping YAML (``config/import-mapping.yaml``), so an export with Chinese
headers reads as is.  Rows are validated one by one; good rows are stored in batches (one
transaction per batch: a row is stored whole or not at all), bad rows are reported with
``file:line`` and the reason.  Importing the same file again changes nothing: tickets are keyed
by 工单编号 and events by (ticket, kind, time, unit); a newer export updates ticket fields and
appends only the events not yet stored.  Timestamps without a zone are Asia/Shanghai.
"""
from __future__ import annotations

import codecs
import csv
import itertools
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from .assignments import refresh
from .calendar import WorkCalendar
from .config import ConfigError, load_settings, read_yaml
from .db import refresh_statistics
from .models import Category, EventKind, Ticket, TicketEvent, Unit
from .rules import Rules
from .times import now_local, parse_local

TICKET_FIELDS = ("source", "category_code", "urgent_kind", "content", "caller_name", "caller_phone",
                 "address", "territorial_unit_code", "received_at")
EVENT_FIELDS = ("kind", "at", "unit_code", "reason", "suggested_unit_code", "reply_kind", "review_passed",
                "days", "consent", "plan_date", "satisfaction", "resolved")
SATISFACTION = {"satisfied", "basically_satisfied", "unsatisfied"}
ANALYZE_AFTER_EVENTS = 20_000  # a bulk load: refresh the planner's statistics at once
REPLY_KINDS = {"normal", "out_of_scope", "not_true", "explained", "planned"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, headers); nothing was written."""


@dataclass
class ImportReport:
    path: str
    rows: int = 0
    tickets_new: int = 0
    tickets_updated: int = 0
    events_new: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Mapping:
    columns: dict[str, str]
    values: dict[str, dict]
    max_content_chars: int
    future_tolerance: timedelta

    @classmethod
    def load(cls, path: Path | str | None = None) -> Mapping:
        path = Path(path) if path else load_settings().config_dir / "import-mapping.yaml"
        data = read_yaml(path)
        columns = data.get("columns") or {}
        for required in ("number", "kind", "at"):
            if required not in columns:
                raise ConfigError(f"{path}: columns.{required} is missing")
        limits = data.get("limits") or {}
        return cls(columns=columns, values=data.get("values") or {},
                   max_content_chars=int(limits.get("max_content_chars", 20000)),
                   future_tolerance=timedelta(minutes=int(limits.get("future_tolerance_minutes", 10))))


# -- reading rows -----------------------------------------------------------------------------
def detect_encoding(path: Path, encoding: str | None) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as such, else GB18030 (GBK's superset)."""
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in candidates:
        try:
            decoder = codecs.getincrementaldecoder(enc)()
        except LookupError:
            raise ImportFileError(f"{path}: unknown encoding {enc!r}") from None
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError as exc:
            last = exc
    raise ImportFileError(f"{path}: cannot be decoded as {' or '.join(candidates)} ({last.reason} at byte "
                          f"{last.start}); pass --encoding") from None


# Fields up to 16 MB parse, so an oversized 诉求内容 is refused by its own rule, with its line.
csv.field_size_limit(16 * 1024 * 1024)


def read_rows(path: Path, encoding: str | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, {header: value}) for every data row."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    if suffix == ".csv":
        enc = detect_encoding(path, encoding)
        with path.open(encoding=enc, newline="") as fh:
            reader = csv.reader(fh)
            try:
                headers = [h.strip() for h in next(reader)]
            except StopIteration:
                raise ImportFileError(f"{path}: the file is empty") from None
            except csv.Error as exc:
                raise ImportFileError(f"{path}:1: {exc}") from None
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield reader.line_num, {"__error__": f"malformed CSV: {exc}"}
                    continue
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(headers):
                    yield reader.line_num, {"__error__": f"{len(values)} columns, the header has {len(headers)}"}
                    continue
                yield reader.line_num, dict(zip(headers, values))
    elif suffix in (".xlsx", ".xlsm"):
        import zipfile

        from openpyxl import load_workbook
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ImportFileError(f"{path}: not a readable XLSX workbook ({exc})") from None
        try:
            rows = wb.active.iter_rows(values_only=True)
            headers = [str(h).strip() if h is not None else "" for h in next(rows, [])]
            if not any(headers):
                raise ImportFileError(f"{path}: the first sheet has no header row")
            for line, values in enumerate(rows, 2):
                if values is None or all(v is None or str(v).strip() == "" for v in values):
                    continue
                yield line, {h: ("" if v is None else v) for h, v in zip(headers, values)}
        except zipfile.BadZipFile as exc:
            raise ImportFileError(f"{path}: the workbook is truncated or damaged ({exc})") from None
        finally:
            wb.close()
    elif suffix in (".jsonl", ".ndjson"):
        enc = detect_encoding(path, encoding)
        with path.open(encoding=enc) as fh:
            for line, text in enumerate(fh, 1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield line, {"__error__": f"not valid JSON ({exc.msg})"}
                    continue
                yield line, obj if isinstance(obj, dict) else {"__error__": "not a JSON object"}
    else:
        raise ImportFileError(f"{path}: unknown format {suffix or '(no extension)'}; expected .csv, .xlsx or .jsonl")


# -- validating one row -----------------------------------------------------------------------
class RowError(Exception):
    pass


class RowParser:
    def __init__(self, mapping: Mapping, units: set[str], categories: set[str], channels: set[str],
                 now: datetime):
        self.m, self.units, self.categories, self.channels = mapping, units, categories, channels
        self.latest = now + mapping.future_tolerance

    def raw(self, row: dict, name: str):
        header = self.m.columns.get(name)
        value = row.get(header, row.get(name)) if header else row.get(name)
        if isinstance(value, str):
            value = value.strip()
        return None if value in (None, "") else value

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
        number = self.raw(row, "number")
        if number is None:
            raise RowError(f"{self.m.columns['number']} (工单编号) is missing")
        number = str(number)
        if len(number) > 64 or any(c in number for c in "\r\n"):
            raise RowError(f"{self.m.columns['number']}: {number[:40]!r} is not a ticket number")
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
        ticket = {"source": source, "category_code": category, "urgent_kind": self.word(row, "urgent_kind"),
                      "content": content, "caller_name": _text(self.raw(row, "caller_name")),
                      "caller_phone": _text(self.raw(row, "caller_phone")), "address": _text(self.raw(row, "address")),
                      "territorial_unit_code": self.unit(row, "territorial_unit_code"),
                      "received_at": self.time(row, "received_at", required=True)}
        kind = self.word(row, "kind")
        if kind not in {k.value for k in EventKind}:
            raise RowError(f"{self.m.columns['kind']}: unknown event {kind!r}")
        at = self.time(row, "at", required=True)
        unit = self.unit(row, "unit_code")
        if kind in ("dispatched", "signed", "returned", "replied") and not unit:
            raise RowError(f"{self.m.columns.get('unit_code')}: a '{kind}' event needs the unit")
        days = self.raw(row, "days")
        try:
            days = None if days is None else int(float(days))
        except ValueError:
            raise RowError(f"{self.m.columns.get('days')}: {days!r} is not a number of days") from None
        satisfaction = self.word(row, "satisfaction")
        if satisfaction is not None and satisfaction not in SATISFACTION:
            raise RowError(f"{self.m.columns.get('satisfaction')}: unknown evaluation {satisfaction!r}")
        reply_kind = self.word(row, "reply_kind")
        if reply_kind is not None and reply_kind not in REPLY_KINDS:
            raise RowError(f"{self.m.columns.get('reply_kind')}: unknown reply kind {reply_kind!r}")
        event = {"kind": kind, "at": at, "unit_code": unit or "", "reason": _text(self.raw(row, "reason")),
                     "suggested_unit_code": self.unit(row, "suggested_unit_code"), "reply_kind": reply_kind,
                     "review_passed": self.flag(row, "review_passed"), "days": days, "consent": self.flag(row, "consent"),
                     "plan_date": _plan_date(self.raw(row, "plan_date"), self.m.columns.get("plan_date")),
                     "satisfaction": satisfaction, "resolved": self.flag(row, "resolved")}
        return number, ticket, event


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
def import_file(session_factory, path: Path | str, cal: WorkCalendar, rules: Rules, mapping: Mapping | None = None,
                encoding: str | None = None, dry_run: bool = False, batch_size: int = 2000,
                progress=None) -> ImportReport:
    path = Path(path)
    mapping = mapping or Mapping.load()
    report = ImportReport(str(path))
    with session_factory() as s:
        units = set(s.scalars(select(Unit.code)))
        categories = set(s.scalars(select(Category.code)))
    parser = RowParser(mapping, units, categories, set(rules.channels), now_local())
    # Conflicting duplicates are looked for among the recent tickets only (exports list a ticket's
    # events together): bounded memory however large the file.
    first_seen: OrderedDict[str, tuple[int, dict]] = OrderedDict()
    batch: list[tuple[int, str, dict, dict]] = []
    rows = read_rows(path, encoding)
    # Fail on the file as a whole (format, encoding, header) before any row is stored.
    first = next(rows, None)
    pending = [first] if first else []
    if first is not None and "__error__" not in first[1]:
        missing = [mapping.columns[f] for f in ("number", "kind", "at")
                   if mapping.columns[f] not in first[1] and f not in first[1]]
        if missing:
            raise ImportFileError(f"{path}: missing column(s) {', '.join(missing)}; is this the platform's export, "
                                  f"or does it need its own --mapping?")

    def flush():
        if batch and not dry_run:
            _store(session_factory, batch, cal, rules, report)
        batch.clear()

    for line, row in itertools.chain(pending, rows):
        report.rows += 1
        if progress:
            progress(1)
        try:
            number, ticket, event = parser.parse(row)
            seen = first_seen.get(number)
            if seen is None:
                first_seen[number] = (line, ticket)
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
        batch.append((line, number, ticket, event))
        if len(batch) >= batch_size:
            flush()
    flush()
    if report.events_new >= ANALYZE_AFTER_EVENTS:
        refresh_statistics(session_factory)
    return report


def _store(session_factory, batch, cal, rules, report: ImportReport) -> None:
    """One transaction for a batch: tickets upserted, new events appended, assignments refreshed."""
    with session_factory() as s, s.begin():
        numbers = {number for _, number, _, _ in batch}
        existing = {t.number: t for t in s.execute(select(Ticket.id, Ticket.number, *[getattr(Ticket, f)
                    for f in TICKET_FIELDS]).where(Ticket.number.in_(numbers)))}
        latest: dict[str, dict] = {}
        for _, number, ticket, _ in batch:
            latest[number] = ticket
        ids: dict[str, int] = {n: t.id for n, t in existing.items()}
        new = [dict(number=n, **t) for n, t in latest.items() if n not in existing]
        if new:
            s.execute(Ticket.__table__.insert(), new)
            ids.update(dict(s.execute(select(Ticket.number, Ticket.id).where(
                Ticket.number.in_([t["number"] for t in new]))).all()))
            report.tickets_new += len(new)
        changed_tickets = set()
        for n, t in latest.items():
            old = existing.get(n)
            if old is not None and any(getattr(old, f) != t[f] for f in TICKET_FIELDS):
                s.execute(update(Ticket).where(Ticket.id == old.id).values(**t))
                changed_tickets.add(old.id)
                report.tickets_updated += 1
        keys = {(ids[n], e["kind"], e["at"], e["unit_code"]) for _, n, _, e in batch}
        stored = set(s.execute(select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.unit_code)
                               .where(TicketEvent.ticket_id.in_({k[0] for k in keys}))).all())
        stored = {(t, k, a, u) for t, k, a, u in stored}
        new_events, seen = [], set()
        for _, n, _, e in batch:
            key = (ids[n], e["kind"], e["at"], e["unit_code"])
            if key in stored or key in seen:
                continue
            seen.add(key)
            new_events.append(dict(ticket_id=ids[n], **e))
        if new_events:
            s.execute(TicketEvent.__table__.insert(), new_events)
            report.events_new += len(new_events)
        touched = sorted(changed_tickets | {e["ticket_id"] for e in new_events})
        refresh(s, touched, cal, rules)

