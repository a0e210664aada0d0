"""Per-ticket reports for national and provincial tickets (seed 004):

- a national ticket (国家级事项): 《关于…（工单编号）网民留言办理情况的报告》;
- a provincial 接诉即办 ticket: 《…省级接诉即办单情况说明》 and 《省接诉即办承办单》;

each as a PDF and as a DOCX the centre can edit (the 电子版 it forwards), into the archive and to
the centre's mailbox, once the ticket's reply has passed the centre's review (审核通过).  Which
sources get which reports is ``ticket_reports`` in config/documents.yaml.

A report is built once per ticket from its events (what was asked, who handled it, what was done,
the reply, each clock met or missed, the callback); later runs skip a ticket already reported, so
the job can run every hour over a week of reviews without sending anything twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select

from ..asof import view
from ..config import policy
from ..documents import organisation, store, unit_names
from ..editable import docx_report
from ..jobs import job
from ..mail import Attachment
from ..models import Category, Document, EventKind, Ticket, TicketEvent
from ..notify import notify
from ..rendering import SATISFACTION_WORDS, mask_name, mask_phone, mask_text
from .base import make_actors

E = EventKind
STEP_WORDS = {E.DISPATCHED: "交办", E.SIGNED: "签收", E.RETURNED: "回退", E.REPLIED: "答复", E.REVIEWED: "审核",
              E.EXTENDED: "延期", E.PLANNED: "列入计划", E.CALLBACK: "回访", E.REDO: "重办", E.CLOSED: "办结"}
REPLY_WORDS = {"normal": "正常答复", "out_of_scope": "不在受理范围", "not_true": "情况不属实", "explained": "解释说明",
               "planned": "列入计划"}
# How far back a run looks for reviews passed: reports missed by a stopped service are caught up.
LOOKBACK = timedelta(days=7)


def reviewed_tickets(s, sources: list[str], start: datetime, end: datetime) -> list[int]:
    """Tickets of SOURCES whose reply passed the centre's review in [start, end) and that have no
    report yet (``ticket_report`` documents are scoped by ticket number)."""
    reported = exists().where(Document.kind.like("ticket_%"), Document.scope == Ticket.number)
    return list(s.scalars(
        select(Ticket.id).join(TicketEvent, and_(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == E.REVIEWED,
                                                 TicketEvent.review_passed.is_(True)))
        .where(Ticket.source.in_(sources), TicketEvent.at >= start, TicketEvent.at < end, ~reported)
        .group_by(Ticket.id).order_by(func.min(TicketEvent.at), Ticket.id)))


def _when(at: datetime | None) -> str:
    return "—" if at is None else f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"


def _met(done: datetime | None, due: datetime | None, as_of: datetime) -> str:
    if due is None:
        return "—"
    if done is None:
        return "未完成，已超时" if as_of > due else "未完成"
    return "按时" if done <= due else f"超时（{_when(done)}完成）"


def ticket_facts(s, ticket_id: int, as_of: datetime, names: dict[str, str], response_hours: int) -> dict:
    """One ticket as the reports tell it: the request (masked), the steps, the reply, the clocks."""
    t = s.get(Ticket, ticket_id)
    events = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.at <= as_of)
                       .order_by(TicketEvent.at, TicketEvent.id)).all()
    A = view(s, as_of).A
    current = s.scalars(select(A).where(A.ticket_id == ticket_id, A.is_current.is_(True))).first()
    category = s.get(Category, t.category_code)
    steps = []
    for e in events:
        detail = {E.RETURNED: lambda e: f"理由：{mask_text(e.reason, t.caller_name) or '未说明'}",
                  E.REPLIED: lambda e: REPLY_WORDS.get(e.reply_kind or "", ""),
                  E.REVIEWED: lambda e: "通过" if e.review_passed else "退回",
                  E.EXTENDED: lambda e: f"延期{e.days or 0}个工作日",
                  E.PLANNED: lambda e: f"计划{e.plan_date}前完成",
                  E.CALLBACK: lambda e: "，".join(x for x in (SATISFACTION_WORDS.get(e.satisfaction or "", ""),
                                                             {True: "已解决", False: "未解决"}.get(e.resolved, ""))
                                                 if x)}.get(E(e.kind), lambda e: "")(e)
        steps.append([_when(e.at), STEP_WORDS.get(E(e.kind), e.kind),
                      names.get(e.unit_code, e.unit_code) if e.unit_code else "—", detail or "—"])
    replies = [e for e in events if e.kind == E.REPLIED]
    reply = replies[-1] if replies else None
    callbacks = [e for e in events if e.kind == E.CALLBACK]
    unit = names.get(current.unit_code, current.unit_code) if current else "—"
    clocks = []
    if current is not None:
        signed_by = current.dispatched_at + timedelta(hours=response_hours)
        clocks.append(["签收（响应）", _when(signed_by), _when(current.signed_at), _met(current.signed_at, signed_by, as_of)])
        if current.reply_due is not None:
            clocks.append(["答复", _when(current.reply_due), _when(current.first_replied_at),
                           _met(current.first_replied_at, current.reply_due, as_of)])
        clocks.append(["办结", _when(current.completion_due), _when(current.finished_at),
                       _met(current.finished_at, current.completion_due, as_of)])
    return {
        "number": t.number, "received_at": _when(t.received_at), "category": category.name if category else t.category_code,
        "category_code": t.category_code, "content": mask_text(t.content, t.caller_name), "caller": f"{mask_name(t.caller_name)}"
        f"（{mask_phone(t.caller_phone)}）", "address": mask_text(t.address, t.caller_name) or "—", "unit": unit, "steps": steps,
        "reply_kind": REPLY_WORDS.get(reply.reply_kind or "", "—") if reply else "—",
        "reply_text": mask_text(reply.note, t.caller_name) if reply and reply.note else "（答复内容未随工单导入）",
        "replied_at": _when(reply.at if reply else None), "clocks": clocks,
        "callback": ("，".join(x for x in (SATISFACTION_WORDS.get(callbacks[-1].satisfaction or "", ""),
                                           {True: "问题已解决", False: "问题未解决"}.get(callbacks[-1].resolved, ""))
                               if x) if callbacks else "尚未回访"),
    }


def sections(kind: str, f: dict) -> list[dict]:
    """The report as headings, paragraphs and tables: one structure for the PDF and the DOCX."""
    steps = {"columns": ["时间", "环节", "单位", "情况"], "widths": [22, 10, 26, 42], "rows": f["steps"]}
    clocks = {"columns": ["时限", "应完成时间", "实际完成时间", "是否按时"], "widths": [16, 28, 28, 28], "rows": f["clocks"]}
    if kind == "ticket_provincial_form":
        form = [["工单编号", f["number"]], ["受理时间", f["received_at"]], ["事项类别", f"{f['category']}（{f['category_code']}）"],
                ["来电人", f["caller"]], ["诉求地址", f["address"]], ["诉求内容", f["content"]], ["承办单位", f["unit"]],
                ["答复类型", f["reply_kind"]], ["答复时间", f["replied_at"]], ["答复内容", f["reply_text"]],
                ["回访情况", f["callback"]]]
        return [{"heading": None, "paragraphs": [],
                 "table": {"columns": ["项目", "内容"], "widths": [18, 82], "rows": form}},
                {"heading": "办理时效", "paragraphs": [], "table": clocks}]
    intro = (f"{f['received_at']}，12345热线受理{'国家政务服务平台转来的网民留言' if kind == 'ticket_national_report' else '省级接诉即办工单'}"
             f"（工单编号：{f['number']}，事项类别：{f['category']}），现将办理情况报告如下。")
    return [
        {"heading": None, "paragraphs": [intro], "table": None},
        {"heading": "一、诉求内容", "paragraphs": [f"{f['content']}（来电人：{f['caller']}；地址：{f['address']}）"], "table": None},
        {"heading": "二、办理过程", "paragraphs": [f"该工单由{f['unit']}承办，办理经过如下："], "table": steps},
        {"heading": "三、办理结果", "paragraphs": [f"{f['unit']}于{f['replied_at']}答复（{f['reply_kind']}）：{f['reply_text']}"],
         "table": None},
        {"heading": "四、办理时效", "paragraphs": [], "table": clocks},
        {"heading": "五、回访情况", "paragraphs": [f"{f['callback']}。"], "table": None},
    ]


TITLES = {"ticket_national_report": "关于{category}问题（{number}）网民留言办理情况的报告",
          "ticket_provincial_statement": "{category}问题省级接诉即办单情况说明",
          "ticket_provincial_form": "省接诉即办承办单"}


@job("ticket_reports", period="day", family="reports")
def ticket_reports(ctx):
    s, as_of = ctx.session, ctx.as_of
    kinds_by_source = (policy("documents").get("ticket_reports") or {})
    names = unit_names(s)
    made = []
    for ticket_id in reviewed_tickets(s, list(kinds_by_source), as_of - LOOKBACK, as_of):
        facts = ticket_facts(s, ticket_id, as_of, names, ctx.rules.response_hours)
        source = s.get(Ticket, ticket_id).source
        attachments = []
        for kind in kinds_by_source[source]:
            title = TITLES[kind].format(**facts)
            parts = sections(kind, facts)
            doc, pdf = store(ctx, kind=kind, scope=facts["number"], title=title,
                             template="documents/ticket_report.html", sections=parts)
            org = organisation(kind)
            editable = docx_report(title, parts, issuer=org["issuer"], header=org["header"], date=doc.issued_on)
            path = doc.path.removesuffix(".pdf") + ".docx"
            with open(path, "wb") as fh:
                fh.write(editable)
            attachments += [Attachment(f"{title}.pdf", pdf), Attachment(f"{title}.docx", editable)]
        notify(ctx, kind="ticket_report", groups=["hotline_center"], scope=facts["number"],
               subject=f"【工单报告】{facts['number']}（{facts['category']}）办理情况",
               lines=[(f"工单 {facts['number']} 的答复已审核通过，现将办理情况报告（PDF 与可编辑的 DOCX 电子版）"
                       "发送给您，请核定后报送。")], attachments=attachments)
        made.append(facts["number"])
    ctx.summary.update(tickets=made)


actors = make_actors("ticket_reports")
