"""What each console page shows, read through the functions the documents use (``detection``,
``metrics``, ``supervision``) with the viewer's scope added to every query.

Each function takes the database session and the ``Viewer`` and returns plain data for a
template; it raises ``Refused`` (403) or ``NotFound`` (404) rather than return what the viewer
may not see.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from .. import detection
from ..asof import view
from ..calendar import UnknownYearError
from ..config import policy
from ..ladder import describe, ladder_at
from ..mail import UNSENT
from ..models import (
    Category,
    Document,
    DocumentTicket,
    DocumentVersion,
    MessageDocument,
    OutboxMessage,
    Person,
    Run,
    Ticket,
    TicketEvent,
    Unit,
)
from ..periods import containing
from ..policy_schema import Requirement
from ..rendering import mask_text, masked_ticket
from ..supervision import ledger
from ..vocabulary import EVENT_LABELS, SATISFACTION_WORDS, unit_names
from .access import Viewer
from .cache import period_metrics


class Refused(Exception):
    """The viewer may not see this (403)."""


class NotFound(Exception):
    """No such thing (404)."""


class BadParameter(ValueError):
    """A query parameter the page cannot use (400), with the words to show."""


LISTS = {"open": "在办", "warning": "预警", "overdue": "超期", "returned_twice": "回退≥2次"}
PAGE_SIZE = 50
TICKETS_PER_PAGE = 200


def _caller(viewer: Viewer, row: dict) -> dict:
    """A ticket row as this viewer may read it: the centre sees callers as recorded, everyone else
    masked (DOMAIN.md "Confidentiality"); the content passes the documents' masking rule too."""
    return dict(row) if viewer.unmasked else masked_ticket(row)


def _unit(session: Session, viewer: Viewer, code: str) -> Unit:
    unit = session.scalars(select(Unit).where(Unit.code == code)).first()
    if unit is None:
        raise NotFound(f"没有编码为“{code}”的单位")
    if not viewer.sees_unit(code):
        raise Refused("您无权查看该单位")
    return unit


# -- 今日 -------------------------------------------------------------------------------------------
@dataclass
class Window:
    as_of: datetime
    since: datetime
    horizon: datetime


def window(cal, as_of: datetime) -> Window:
    """The daily sheet's counting window at ``as_of``: new since the previous working day at the
    same time; 预警 up to the end of the next working day(s) (``warning_working_days``)."""
    try:
        horizon = detection.warning_horizon(cal, as_of)
        since = detection.previous_workday_same_time(cal, as_of)
    except UnknownYearError:
        horizon, since = as_of + timedelta(days=1), as_of - timedelta(days=1)
    return Window(as_of, since, horizon)


def today(session: Session, viewer: Viewer, win: Window) -> dict:
    counts, totals = detection.counts_by_unit(session, win.as_of, win.since, win.horizon,
                                              *viewer.assignment_scope(view(session, win.as_of).A))
    names = unit_names(session)
    zero = {"new": 0, "open": 0, "warning": 0, "overdue": 0, "returned_twice": 0}
    for code in viewer.units or ():   # a unit's own people see their unit's row, nothing to do included
        counts.setdefault(code, dict(zero))
    rows = sorted(({"code": c, "name": names.get(c, c), **v} for c, v in counts.items()
                   if (any(v.values()) or viewer.units) and viewer.sees_unit(c)),
                  key=lambda r: (-r["overdue"], -r["warning"], r["code"]))
    from .desk import desks
    return {"rows": rows, "totals": totals, "scope": scope_name(viewer, names),
            "desks": [] if viewer.law_only else desks(session, viewer, win, names)}


def scope_name(viewer: Viewer, names: dict[str, str]) -> str:
    """What a viewer's lists cover, in words: 全区, 涉行政执法工单, or its units' names."""
    if viewer.law_only:
        return "涉行政执法工单"
    if viewer.units is None:
        return "全区"
    return "、".join(names.get(c, c) for c in sorted(viewer.units))


def ticket_list(session: Session, viewer: Viewer, win: Window, unit: str | None, kind: str, page: int = 1) -> dict:
    if kind not in LISTS:
        raise BadParameter(f"list 只能是 {'、'.join(LISTS)} 之一")
    from .desk import time_left

    A = view(session, win.as_of).A
    where = list(viewer.assignment_scope(A))
    names = unit_names(session)
    title_unit = scope_name(viewer, names)
    if unit:
        title_unit = _unit(session, viewer, unit).name
        where.append(A.unit_code == unit)
    if kind in ("open", "overdue"):   # long lists (a replayed day: 18,000 open): paged by due time
        total, rows = _by_due(session, win.as_of, where, kind == "overdue", page)
    else:                              # due within a day or two, or returned twice: short lists
        rows = (sorted(detection.warnings(session, win.as_of, win.horizon, *where),
                       key=lambda r: (r["clock_due"], r["number"])) if kind == "warning"
                else _one_row_per_ticket(detection.returned_twice_tickets(session, win.as_of, *where), names))
        total = len(rows)
        rows = rows[(page - 1) * TICKETS_PER_PAGE:page * TICKETS_PER_PAGE]
    pages = max(1, -(-total // TICKETS_PER_PAGE))
    if page > pages:
        raise BadParameter(f"共 {pages} 页，没有第 {page} 页")
    for r in rows:
        r.setdefault("unit_name", names.get(r["unit_code"], r["unit_code"]))
        if r.get("clock_due"):
            r["left"], r["late"] = time_left(r["clock_due"], win.as_of), r["clock_due"] < win.as_of
    return {"rows": [_caller(viewer, r) for r in rows], "kind": kind, "label": LISTS[kind], "unit": unit,
            "unit_name": title_unit, "total": total, "page": page, "pages": pages}


def _by_due(session: Session, as_of: datetime, where: list, overdue: bool, page: int) -> tuple[int, list[dict]]:
    """(how many, one page) of the open (``overdue``: past due) tickets, ordered by the due time
    of the clock each shows (the missed one, else the next): the keys of all are read and sorted
    here, only the page's rows are read in full (``detection.open_page``)."""
    A = view(session, as_of).A
    conditions = (detection.open_at(A, as_of), *((detection.past_due(A, as_of),) if overdue else ()), *where)
    keys = session.execute(select(A.id, A.reply_due, A.completion_due, A.first_replied_at, A.ticket_id)
                           .where(*conditions)).all()

    def due(k) -> datetime:
        row = {"reply_due": k[1], "completion_due": k[2] or datetime.max, "first_replied_at": k[3]}
        return (detection.missed_clock(row, as_of) or detection.next_clock(row, as_of))[1] or datetime.max
    keys = sorted(keys, key=lambda k: (due(k), k[4]))
    ids = [k[0] for k in keys[(page - 1) * TICKETS_PER_PAGE:page * TICKETS_PER_PAGE]]
    rows = detection.open_page(session, as_of, A.id.in_(ids), limit=len(ids))[1] if ids else []
    return len(keys), sorted(rows, key=lambda r: (r["clock_due"], r["number"]))


def _one_row_per_ticket(rows: list[dict], names: dict[str, str]) -> list[dict]:
    """回退≥2次 as the count counts it: each ticket once, with every unit that returned it."""
    merged: dict[str, dict] = {}
    for r in rows:
        m = merged.get(r["number"])
        if m is None:
            merged[r["number"]] = dict(r, unit_name=names.get(r["unit_code"], r["unit_code"]))
            continue
        m["unit_name"] += "、" + names.get(r["unit_code"], r["unit_code"])
        m["returned_at"] = max(m["returned_at"], r["returned_at"])
        if r.get("return_reason") and r["return_reason"] != m.get("return_reason"):
            m["return_reason"] = "；".join(filter(None, (m.get("return_reason"), r["return_reason"])))
    return sorted(merged.values(), key=lambda r: (r["returned_at"], r["number"]))


# -- a ticket ---------------------------------------------------------------------------------------
def _clock(due: datetime | None, done: datetime | None, as_of: datetime) -> str:
    """met / missed / running / — for a due time and the moment the step was done."""
    if due is None:
        return ""
    if done is not None:
        return "按时" if done <= due else "超时"
    return "已超期" if due < as_of else "未到期"


def ticket(session: Session, viewer: Viewer, number: str, as_of: datetime) -> dict:
    t = session.scalars(select(Ticket).where(Ticket.number == number)).first()
    if t is None:
        raise NotFound(f"没有编号为“{number}”的工单")
    A = view(session, as_of).A
    scope = viewer.assignment_scope(A)
    if scope and not session.scalar(select(exists().where(A.ticket_id == t.id, *scope))):
        raise Refused("该工单不在您的查看范围内")
    names = unit_names(session)
    category = session.get(Category, t.category_code)
    assignments = []
    for a in session.scalars(select(A).where(A.ticket_id == t.id).order_by(A.seq)):
        assignments.append({
            "unit": names.get(a.unit_code, a.unit_code), "unit_code": a.unit_code, "current": a.is_current,
            "dispatched_at": a.dispatched_at, "signed_at": a.signed_at,
            "response": "按时" if a.responded_in_time else ("超时" if a.signed_at else ""),
            "reply_due": a.reply_due, "first_replied_at": a.first_replied_at,
            "reply_state": _clock(a.reply_due, a.first_replied_at, as_of),
            "completion_due": a.completion_due, "finished_at": a.finished_at,
            "completion_state": _clock(a.completion_due, a.finished_at, as_of),
            "extended_days": a.extended_days, "plan_date": a.plan_date, "returned_at": a.returned_at,
            "return_reason": a.return_reason if viewer.unmasked else mask_text(a.return_reason, t.caller_name),
            "callback_at": a.callback_at, "satisfaction": SATISFACTION_WORDS.get(a.satisfaction or "", a.satisfaction),
            "resolved": a.resolved, "redo_count": a.redo_count})
    events = [{"at": e.at, "kind": EVENT_LABELS.get(e.kind, e.kind), "unit": names.get(e.unit_code, e.unit_code),
               "detail": _event_detail(e, viewer, names, t.caller_name)}
              for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.at <= as_of)
                                       .order_by(TicketEvent.at, TicketEvent.id))]
    docs = session.scalars(visible_documents(select(Document), viewer)
                           .where(Document.id.in_(select(DocumentTicket.document_id)
                                                  .where(DocumentTicket.ticket_id == t.id)))
                           .order_by(Document.created_at)).all()
    territorial = t.territorial_unit_code or ""
    facts = _caller(viewer, {"caller_name": t.caller_name, "caller_phone": t.caller_phone, "content": t.content})
    return {"t": t, "facts": facts, "category": category.name if category else t.category_code,
            "territorial": names.get(territorial, territorial),
            "assignments": assignments, "events": events, "documents": described(session, docs)}


def _event_detail(e: TicketEvent, viewer: Viewer, names: dict, caller: str | None) -> str:
    parts = []
    if e.reason:
        parts.append(f"理由：{e.reason if viewer.unmasked else mask_text(e.reason, caller)}")
    if e.suggested_unit_code:
        parts.append(f"建议：{names.get(e.suggested_unit_code, e.suggested_unit_code)}")
    if e.days:
        parts.append(f"{e.days} 个工作日")
    if e.plan_date:
        parts.append(f"计划 {e.plan_date:%Y-%m-%d}")
    if e.review_passed is not None:
        parts.append("审核通过" if e.review_passed else "审核未通过")
    if e.satisfaction:
        parts.append(SATISFACTION_WORDS.get(e.satisfaction, e.satisfaction))
    if e.resolved is not None:
        parts.append("已解决" if e.resolved else "未解决")
    return "；".join(parts)


# -- a unit -----------------------------------------------------------------------------------------
def units(session: Session, viewer: Viewer) -> list[Unit]:
    q = select(Unit).where(Unit.kind.in_(("department", "territorial"))).order_by(Unit.code)
    if viewer.units is not None:
        q = q.where(Unit.code.in_(sorted(viewer.units)))
    return list(session.scalars(q))


def unit_page(session: Session, viewer: Viewer, code: str, as_of: datetime, weeks: int = 8, months: int = 6) -> dict:
    unit = _unit(session, viewer, code)
    if viewer.law_only:
        raise Refused("司法局账号只能查看涉行政执法工单")

    def series(kind: str, count: int) -> list[dict]:
        period = containing(kind, as_of).previous()   # the last complete one first
        out: list[dict[str, Any]] = []
        for _ in range(count):
            result = period_metrics(session, period, as_of)
            m = result.by_code().get(code)
            if m is not None:
                out.append({"period": period, "m": m, "ranked": len(result.ranked)})
            period = period.previous()
        out = out[::-1]
        while out and not out[0]["m"].dispatches:   # the periods before the unit's first dispatch
            out.pop(0)
        return out

    week_rows, month_rows = series("week", weeks), series("month", months)
    state = ladder_at(session, as_of, units=[code]).get(code)
    ladder = dict(describe(state), state=state) if state and state.active else None
    letters = [e for e in ledger(session, as_of, unit=code) if not e.settled]
    received = session.scalars(
        visible_documents(select(Document), viewer)
        .where(Document.id.in_(select(MessageDocument.document_id)
                               .join(OutboxMessage, OutboxMessage.id == MessageDocument.message_id)
                               .join(Person, Person.email == OutboxMessage.recipient_email)
                               .where(Person.unit_code == code)))
        .order_by(Document.created_at.desc()).limit(30)).all()
    return {"unit": unit, "weeks": week_rows, "months": month_rows, "ladder": ladder, "letters": letters,
            "received": described(session, received),
            "chart": rate_chart(week_rows, policy.metrics().requirement)}


def period_label(period) -> str:
    """A period as the unit page's tables and chart both name it: 11月9日–15日, 2026年11月."""
    if period.kind == "month":
        return f"{period.start.year}年{period.start.month}月"
    last = period.last_day
    end = f"{last.day}日" if last.month == period.start.month else f"{last.month}月{last.day}日"
    return f"{period.start.month}月{period.start.day}日–{end}"


CHART_TOP, CHART_BASE, SLOT = 20, 170, 76   # SVG units: 100 % at y=20, 0 % at y=170, one period per slot


def rate_chart(rows: list[dict], requirement: Requirement) -> dict:
    """The 双率 per period as bars with their values, a percentage axis and the requirement line
    (config/metrics.yaml ``requirement``), labelled with the tables' period names."""
    scale = (CHART_BASE - CHART_TOP) / 100

    def y(pct: float) -> float:
        return round(CHART_BASE - pct * scale, 1)

    bars = []
    for i, r in enumerate(rows):
        for j, rate in enumerate((r["m"].dual_resolution, r["m"].dual_satisfaction)):
            pct = None if rate.value is None else 100 * rate.value
            x = 44 + i * SLOT + j * 26
            bars.append({"x": x, "y": y(pct or 0), "h": round((pct or 0) * scale, 1), "kind": ("resolution", "satisfaction")[j],
                         "label": "—" if pct is None else f"{pct:.1f}", "title": rate.pct()})
    need = sorted({round(100 * v, 1) for _name, v in requirement})
    width = 50 + SLOT * len(rows)
    return {"bars": bars, "width": width, "base": CHART_BASE, "axis": [(t, y(t)) for t in (0, 25, 50, 75, 100)],
            "requirement": [(v, y(v)) for v in need],
            "labels": [(44 + i * SLOT + 24, period_label(r["period"])) for i, r in enumerate(rows)]}


# -- documents --------------------------------------------------------------------------------------
def visible_documents(stmt, viewer: Viewer, published: tuple[str, ...] = (), law: tuple[str, ...] = ()):
    """``stmt`` (over ``Document``) limited to what the viewer may read: everything for the centre,
    operations and district-wide leaders; otherwise the published kinds (通报 to every unit),
    what was sent to the viewer or to people of the viewer's units, and for the justice bureau the
    law-enforcement documents."""
    if viewer.district_wide:
        return stmt
    console = policy.console()
    published = published or tuple(console.published_kinds)
    law = law or tuple(console.law_kinds)
    to_people = select(MessageDocument.document_id).join(OutboxMessage, OutboxMessage.id == MessageDocument.message_id)
    if viewer.units is not None:
        people = select(Person.email).where(or_(Person.unit_code.in_(sorted(viewer.units)), Person.email == viewer.email))
    else:
        people = select(Person.email).where(Person.email == viewer.email)
    arms = [Document.kind.in_(published), Document.id.in_(to_people.where(OutboxMessage.recipient_email.in_(people)))]
    if viewer.law_only:
        arms.append(Document.kind.in_(law))
    return stmt.where(or_(*arms))


def documents(session: Session, viewer: Viewer, kind: str = "", period: str = "", unit: str = "", number: str = "",
              page: int = 1) -> dict:
    q = visible_documents(select(Document), viewer)
    if kind:
        q = q.where(Document.kind == kind)
    if period:
        q = q.where(Document.scope.startswith(period, autoescape=True))
    if unit:
        _unit(session, viewer, unit)
        q = q.where(or_(Document.scope.endswith(f":{unit}", autoescape=True), Document.id.in_(
            select(MessageDocument.document_id).join(OutboxMessage, OutboxMessage.id == MessageDocument.message_id)
            .join(Person, Person.email == OutboxMessage.recipient_email).where(Person.unit_code == unit))))
    if number:
        q = q.where(Document.id.in_(select(DocumentTicket.document_id).join(Ticket, Ticket.id == DocumentTicket.ticket_id)
                                    .where(Ticket.number == number.strip())))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(Document.created_at.desc(), Document.id.desc())
                           .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    kinds = session.scalars(visible_documents(select(Document.kind).distinct(), viewer).order_by(Document.kind)).all()
    return {"rows": described(session, rows), "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "kinds": kinds}


def described(session: Session, docs: Sequence[Document]) -> list[dict]:
    """Documents as the pages list them: the row, its 发文字号 or 期号, its key in words."""
    names = unit_names(session)
    return [{"doc": d, "number": _number(d), "scope": describe_scope(d.scope, names)} for d in docs]


def _number(doc: Document) -> str:
    """发文字号 as the document prints it (莱热线督〔2026〕12号), else 第 N 期."""
    from ..documents import document_number, organisation

    return (document_number(organisation(doc.kind)["number_prefix"], doc.doc_year, doc.doc_no)
            or (f"第{doc.issue_no}期" if doc.issue_no else ""))


def describe_scope(scope: str, names: dict[str, str]) -> str:
    """A document's key in words: its period (2026年11月9日至11月15日), and the unit it is addressed
    to when the key names one; a per-ticket report's key is its ticket number."""
    from ..periods import parse_key

    key, _, rest = scope.partition(":")
    try:
        period = parse_key(key).label()
    except (ValueError, OverflowError):
        return f"工单 {scope}" if scope.isdigit() else scope
    return f"{period} · {names[rest]}" if rest in names else period


def document(session: Session, viewer: Viewer, doc_id: int) -> dict:
    doc = session.get(Document, doc_id)
    if doc is None:
        raise NotFound("没有该文书")
    if session.scalar(visible_documents(select(Document.id), viewer).where(Document.id == doc_id)) is None:
        raise Refused("您无权查看该文书")
    versions = session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == doc_id)
                               .order_by(DocumentVersion.version)).all()
    messages = session.scalars(select(OutboxMessage).join(MessageDocument, MessageDocument.message_id == OutboxMessage.id)
                               .where(MessageDocument.document_id == doc_id).order_by(OutboxMessage.id)).all()
    if not viewer.district_wide:   # a unit's people see whom of their own units it reached
        mine = set(session.scalars(select(Person.email).where(or_(
            Person.unit_code.in_(sorted(viewer.units or ())), Person.email == viewer.email))))
        messages = [m for m in messages if m.recipient_email in mine]
    return {"doc": doc, "about": described(session, [doc])[0], "versions": versions, "messages": messages,
            "files": companions(session, doc_id, versions)}


FILE_TYPES = {".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".pdf": "application/pdf"}


def companions(session: Session, doc_id: int, versions: Sequence[DocumentVersion]) -> list[dict]:
    """The files sent with a document besides its PDF — the per-ticket report's editable DOCX, the
    law push's XLSX — as its messages carry them (kept by hash in ``blobs``): the attachments whose
    name is the PDF attachment's with another extension."""
    shas = {v.sha256 for v in versions}
    stems: set[str] = set()
    found: dict[str, str] = {}   # hash → attachment name
    for (attachments,) in session.execute(select(OutboxMessage.attachments).join(
            MessageDocument, MessageDocument.message_id == OutboxMessage.id).where(MessageDocument.document_id == doc_id)):
        for a in attachments or ():
            name = a.get("name") or ""
            if a.get("sha256") in shas and name.endswith(".pdf"):
                stems.add(name.removesuffix(".pdf"))
            elif name.rpartition(".")[0] and "." + name.rpartition(".")[2] in FILE_TYPES:
                found.setdefault(a["sha256"], name)
    return [{"name": name, "sha256": sha} for sha, name in found.items()
            if name.rpartition(".")[0] in stems and not name.endswith(".pdf")]


def companion(session: Session, viewer: Viewer, doc_id: int, sha256: str) -> tuple[str, bytes]:
    """A file sent with the document, as the outbox reads it (``mail.attachment_data``): its own
    copy (data files), else the archive's file beside the document's PDF (the editable DOCX)."""
    from ..mail import AttachmentMissing, attachment_data

    found = document(session, viewer, doc_id)
    for f in found["files"]:
        if f["sha256"] == sha256:
            try:
                return f["name"], attachment_data(session, sha256, [v.sha256 for v in found["versions"]])
            except AttachmentMissing as exc:
                raise NotFound("该文件已不在存档中") from exc
    raise NotFound("该文书没有这个文件")


def version(session: Session, viewer: Viewer, doc_id: int, number: int) -> tuple[Document, DocumentVersion]:
    found = document(session, viewer, doc_id)
    for v in found["versions"]:
        if v.version == number:
            return found["doc"], v
    raise NotFound("没有该版本")


# -- runs -------------------------------------------------------------------------------------------
def runs(session: Session, state: str = "", job: str = "", limit: int = 50) -> dict:
    q = select(Run).order_by(Run.id.desc()).limit(limit)
    if state:
        q = q.where(Run.state == state)
    if job:
        q = q.where(Run.job == job)
    rows = session.scalars(q).all()
    ids = [r.id for r in rows]
    doc_counts = dict(session.execute(select(Document.run_id, func.count()).where(Document.run_id.in_(ids))
                                      .group_by(Document.run_id)).all()) if ids else {}
    msg_counts = dict(session.execute(select(OutboxMessage.run_id, func.count()).where(OutboxMessage.run_id.in_(ids))
                                      .group_by(OutboxMessage.run_id)).all()) if ids else {}
    jobs = session.scalars(select(Run.job).distinct().order_by(Run.job)).all()
    return {"rows": rows, "documents": doc_counts, "messages": msg_counts, "jobs": jobs}


def outbox(session: Session, limit: int = 50) -> list[OutboxMessage]:
    """What needs an operator first (failed, held, pending, sending), then the latest sent."""
    waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.state.in_(UNSENT))
                              .order_by(OutboxMessage.id.desc()).limit(limit)).all()
    done = session.scalars(select(OutboxMessage).where(OutboxMessage.state.not_in(UNSENT))
                           .order_by(OutboxMessage.id.desc()).limit(max(0, limit - len(waiting)))).all()
    return [*waiting, *done]


def schedules(path: Path, cal, now: datetime) -> dict:
    """Each schedule of the file at PATH with its next fire time, and whether the file is valid as it stands."""
    from ..schedules import ScheduleError, load, next_fire

    try:
        cfg = load(path)
    except ScheduleError as exc:
        return {"path": path, "problems": exc.problems, "rows": []}
    rows = []
    for sched in cfg.schedules:
        slot = next_fire(sched, cfg.timezone, cal, now) if sched.enabled else None
        rows.append({"s": sched, "next": slot.effective_at if slot else None,
                     "note": slot.note if slot else ("停用" if not sched.enabled else "一年内不触发")})
    return {"path": path, "problems": [], "rows": rows}


