"""督办 closed out in the console: the ledger in the viewer's scope, an entry's steps, the unit's
answer and the centre's 销号 or return (``worker.closeout``), the answers' attachments.

Who may do what, as for every console action (CSRF and sign-in by ``app.page``):
- an entry and its attachments are seen by whoever sees its unit (not the justice bureau, whose
  scope is law-enforcement tickets);
- the unit's own liaison or head answers (the directory: ``people.unit_code`` of that login's
  liaison / unit_head entries) — not a leader overseeing it, not the centre;
- only the centre (热线中心) accepts or returns an answer.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import FileResponse, RedirectResponse
from starlette.routing import Route

from ..closeout import CloseoutRefused, Upload, answer, decide, file_path, rules
from ..models import Person, SupervisionStep, Ticket
from ..rendering import mask_text
from ..supervision import ANSWER_STATES, LETTER_STAGES, Entry, ledger
from . import pages
from .access import Viewer, record
from .desk import STAGES
from .handling import Ctx, page

PER_PAGE = 200
MEDIA = {**pages.FILE_TYPES, ".jpg": "image/jpeg", ".png": "image/png"}
SHOW = {"pending": "未销号", "answered": "待销号审核", "overdue": "逾期未销号", "all": "全部"}


def answering_units(session: Session, viewer: Viewer) -> set[str]:
    """The units whose letters this login answers: those it is liaison or head of."""
    return set(session.scalars(select(Person.unit_code).where(
        Person.email == viewer.email, Person.role.in_(("liaison", "unit_head")), Person.unit_code.is_not(None))))


def is_centre(viewer: Viewer) -> bool:
    return "hotline_center" in viewer.roles


def _visible(viewer: Viewer, e: Entry) -> bool:
    return not viewer.law_only and viewer.sees_unit(e.unit_code)


def _entry(ctx: Ctx, number: str, stage: str) -> Entry:
    if stage not in LETTER_STAGES:
        raise pages.NotFound("没有该督办环节")
    found = [e for e in ledger(ctx.db, ctx.now, number=number) if e.stage == stage]
    if not found:
        raise pages.NotFound(f"工单“{number}”没有该环节的督办事项")
    if not _visible(ctx.viewer, found[0]):
        raise pages.Refused("该督办事项不在您的查看范围内")
    return found[0]


def _show(e: Entry, show: str) -> bool:
    return {"pending": not e.settled, "answered": e.answer == "answered", "overdue": e.answer_overdue,
            "all": True}[show]


@page("web/supervision.html")
def ledger_page(ctx: Ctx):
    if ctx.viewer.law_only:
        raise pages.Refused("司法局账号只能查看涉行政执法工单")
    show = ctx.param("show", "pending")
    if show not in SHOW:
        raise pages.BadParameter(f"show 只能是 {'、'.join(SHOW)} 之一")
    unit = ctx.param("unit") or None
    if unit:
        pages._unit(ctx.db, ctx.viewer, unit)
    entries = [e for e in ledger(ctx.db, ctx.now, unit=unit) if _visible(ctx.viewer, e)]
    counts = {k: sum(1 for e in entries if _show(e, k)) for k in SHOW}
    rows = sorted((e for e in entries if _show(e, show)),
                  key=lambda e: (e.answer != "answered", not e.answer_overdue, e.deadline or e.day, e.number))
    number = ctx.int_param("page", 1)
    last = max(1, -(-len(rows) // PER_PAGE))
    if number > last:
        raise pages.BadParameter(f"共 {last} 页，没有第 {number} 页")
    return {"rows": rows[(number - 1) * PER_PAGE:number * PER_PAGE], "total": len(rows), "counts": counts,
            "show": show, "shows": SHOW, "unit": unit, "page": number, "pages": last, "stages": STAGES,
            "answers": ANSWER_STATES, "unit_names": pages.unit_names(ctx.db),
            "scope": pages.scope_name(ctx.viewer, pages.unit_names(ctx.db))}


@page("web/supervision_entry.html")
def entry_page(ctx: Ctx, number: str, stage: str):
    e = _entry(ctx, number, stage)
    caller = ctx.db.scalar(select(Ticket.caller_name).where(Ticket.id == e.ticket_id))
    steps = [{"s": st, "text": st.text if ctx.viewer.unmasked else mask_text(st.text, caller)} for st in e.steps]
    return {"e": e, "steps": steps, "stages": STAGES, "answers": ANSWER_STATES,
            "unit_name": pages.unit_names(ctx.db).get(e.unit_code, e.unit_code),
            "may_answer": e.unit_code in answering_units(ctx.db, ctx.viewer) and e.answer in ("none", "returned"),
            "may_decide": is_centre(ctx.viewer) and e.answer == "answered", "limits": rules()}


@page()
def post_answer(ctx: Ctx, number: str, stage: str):
    e = _entry(ctx, number, stage)
    if e.unit_code not in answering_units(ctx.db, ctx.viewer):
        raise pages.Refused("只有承办单位的联络员或负责人可以答复本单位的督办函")
    upload = ctx.field("file")
    data = None
    if getattr(upload, "filename", None):
        data = Upload(upload.filename, upload.file.read(rules().file_max_mb * 1024 * 1024 + 1))
    try:
        answer(ctx.db, e, by_email=ctx.user.email, by_name=ctx.viewer.name, text=str(ctx.field("done") or ""),
               upload=data, at=ctx.now, var_dir=ctx.settings.var_dir)
    except CloseoutRefused as exc:
        raise pages.BadParameter(str(exc)) from exc
    record(ctx.db, ctx.user.email, "supervision_answer", f"{number} {stage}", "answered")
    ctx.request.session["flash"] = f"已提交工单 {number} 的整改答复，等待热线中心审核销号。"
    return RedirectResponse(f"/supervision/{number}/{stage}", status_code=303)


@page()
def post_decision(ctx: Ctx, number: str, stage: str):
    e = _entry(ctx, number, stage)
    if not is_centre(ctx.viewer):
        raise pages.Refused("只有热线中心可以销号或退回督办答复")
    decision = str(ctx.field("decision") or "")
    if decision not in ("accept", "return"):
        raise pages.BadParameter("decision 只能是 accept 或 return")
    try:
        decide(ctx.db, e, accept=decision == "accept", by_email=ctx.user.email, by_name=ctx.viewer.name,
               reason=str(ctx.field("reason") or ""), at=ctx.now)
    except CloseoutRefused as exc:
        raise pages.BadParameter(str(exc)) from exc
    record(ctx.db, ctx.user.email, f"supervision_{decision}", f"{number} {stage}", decision)
    ctx.request.session["flash"] = (f"工单 {number} 的督办事项已销号。" if decision == "accept"
                                    else f"已退回工单 {number} 的整改答复。")
    return RedirectResponse(f"/supervision/{number}/{stage}", status_code=303)


@page()
def attachment(ctx: Ctx, step_id: int):
    step = ctx.db.get(SupervisionStep, step_id)
    if step is None or not step.file_sha256 or step.at > ctx.now:
        raise pages.NotFound("没有该附件")
    number = ctx.db.scalars(select(Ticket.number).where(Ticket.id == step.ticket_id)).one()
    _entry(ctx, number, step.stage)   # the scope check of the entry it belongs to
    path = file_path(ctx.settings.var_dir, step.file_sha256)
    if not path.is_file():
        raise pages.NotFound("该附件已不在存档目录中")
    record(ctx.db, ctx.user.email, "download", f"supervision step {step_id}", "ok")
    media = MEDIA.get("." + (step.file_name or "").rpartition(".")[2].lower(), "application/octet-stream")
    return FileResponse(path, media_type=media, filename=step.file_name)


ROUTES = [
    Route("/supervision", ledger_page),
    Route("/supervision/files/{step_id:id}", attachment),
    Route("/supervision/{number}/{stage}", entry_page),
    Route("/supervision/{number}/{stage}/answer", post_answer, methods=["POST"]),
    Route("/supervision/{number}/{stage}/decide", post_decision, methods=["POST"]),
]
