"""Per-ticket reports for national and provincial tickets, drafted as seed 004 prescribes them:

- a national ticket (国家级事项): 《关于…（工单编号）网民留言办理情况的报告》, the district government's
  report — signed by the leader in charge and the principal leader, sealed by the district government;
- a provincial 接诉即办 ticket: 《…省级接诉即办单情况说明》 and 《省接诉即办承办单》 — signed and sealed by
  the handling unit's head, signed by the leader in charge and sealed by the government office.

Each says 何人、何时、用何电话号码与来电人联系 (the export's 联系 events), what was done (问题落实情况),
the caller's satisfaction (来电人满意度情况), with the signature and seal blocks.  The service drafts
(代拟稿), it never signs: the kind's issuer in config/documents.yaml is the body that seals.

A report is drafted once the ticket's reply has passed the centre's review (审核通过); without a
callback yet it is an interim report (阶段性报告) that says the satisfaction follows.  A later contact,
reply, review, callback, redo, extension or plan re-issues it as a new version (the archive keeps
every version); a run that finds nothing new sends nothing.  PDF and DOCX come from one content
model (``report``); which sources get which reports is ``ticket_reports`` in config/documents.yaml.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from ..asof import view
from ..config import policy
from ..documents import latest_version, organisation, store, title_lines, title_words
from ..editable import docx_report
from ..jobs import JobContext, job
from ..mail import Attachment
from ..models import Category, Document, DocumentVersion, EventKind, Run, Ticket, TicketEvent
from ..notify import notify
from ..rendering import mask_name, mask_phone, mask_text
from ..vocabulary import REPLY_KINDS, SATISFACTION_WORDS, unit_names
from .base import make_actors

E = EventKind
# The events a report tells of: one of them after its last version re-issues it.
TOLD = (E.CONTACTED, E.REPLIED, E.REVIEWED, E.CALLBACK, E.REDO, E.EXTENDED, E.PLANNED)
# How far back a run looks for such events: reports missed by a stopped service are caught up.
LOOKBACK = timedelta(days=7)
SOURCE_WORDS = {"national": "国家政务服务平台转来的网民留言", "enterprise_provincial": "省“接诉即办”平台转办的企业诉求"}


def due_for_report(s: Session, sources: list[str], start: datetime, end: datetime) -> list[int]:
    """Tickets of SOURCES whose reply passed the centre's review by END and that had an event a
    report tells of in [start, end): the ones to draft, or to draft again if that event is newer
    than their last report."""
    # The window's events first (an index on kind and time), then their tickets by id: one statement
    # joining the two made PostgreSQL read every ticket.
    recent = dict(s.execute(select(TicketEvent.ticket_id, func.max(TicketEvent.at))
                            .where(TicketEvent.kind.in_([k.value for k in TOLD]), TicketEvent.at >= start,
                                   TicketEvent.at <= end).group_by(TicketEvent.ticket_id)).all())
    if not recent:
        return []
    passed = exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == E.REVIEWED,
                            TicketEvent.review_passed.is_(True), TicketEvent.at <= end)
    rows = sorted(s.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(list(recent)),
                                                                 Ticket.source.in_(sources), passed)).all(),
                  key=lambda r: (recent[r.id], r.id))
    told = reported_until(s, [r.number for r in rows])
    return [r.id for r in rows if r.number not in told or told[r.number] < recent[r.id]]


def reported_until(s: Session, numbers: list[str]) -> dict[str, datetime]:
    """The moment each ticket's latest report speaks of (the as-of of the run that made its version)."""
    if not numbers:
        return {}
    latest = (select(Document.scope, func.max(DocumentVersion.id).label("v")).join(DocumentVersion)
              .where(Document.kind.like("ticket_%"), Document.scope.in_(numbers)).group_by(Document.scope).subquery())
    out = {}
    for scope, params, nominal in s.execute(select(latest.c.scope, Run.params, Run.nominal_at)
                                            .join(DocumentVersion, DocumentVersion.id == latest.c.v)
                                            .join(Run, Run.id == DocumentVersion.run_id)):
        out[scope] = datetime.fromisoformat(params["as_of"]) if (params or {}).get("as_of") else nominal
    return out


def _when(at: datetime | None) -> str:
    return "—" if at is None else f"{at.year}年{at.month}月{at.day}日{at:%H:%M}"


def _met(done: datetime | None, due: datetime | None, as_of: datetime) -> str:
    if due is None:
        return "—"
    if done is None:
        return "未完成，已超时" if as_of > due else "未完成"
    return "按时" if done <= due else "超时"


def ticket_facts(s: Session, ticket_id: int, as_of: datetime, names: dict[str, str], response_hours: int) -> dict:
    """One ticket as the reports tell it, from its events up to AS_OF: the request (masked), the
    accountable unit (its last dispatch), who contacted the caller when and on which number, the
    reply, each clock met or missed, the last callback."""
    t = s.get_one(Ticket, ticket_id)
    events = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.at <= as_of)
                       .order_by(TicketEvent.at, TicketEvent.id)).all()
    dispatch = [e for e in events if e.kind == E.DISPATCHED][-1]
    unit_code = dispatch.unit_code
    mine = [e for e in events if e.at >= dispatch.at]
    A = view(s, as_of).A   # its clocks as they stood then
    asg = s.scalars(select(A).where(A.ticket_id == ticket_id, A.unit_code == unit_code,
                                    A.dispatched_at == dispatch.at)).first()
    category = s.get(Category, t.category_code)
    unit = names.get(unit_code, unit_code)
    signed = next((e.at for e in mine if e.kind == E.SIGNED and e.unit_code == unit_code), None)
    replies = [e for e in mine if e.kind == E.REPLIED and e.unit_code == unit_code]
    reply = replies[-1] if replies else None
    callback = next((e for e in reversed(mine) if e.kind == E.CALLBACK), None)
    contacts = [{"at": _when(e.at), "person": e.contact_person or "工作人员", "phone": e.contact_phone or "（号码未载明）",
                 "unit": names.get(e.unit_code, e.unit_code)} for e in mine if e.kind == E.CONTACTED]
    clocks = []
    if asg is not None:
        signed_by = dispatch.at + timedelta(hours=response_hours)
        clocks.append(["签收（响应）", _when(signed_by), _when(signed), _met(signed, signed_by, as_of)])
        first_reply = replies[0].at if replies else None
        if asg.reply_due is not None:
            clocks.append(["答复", _when(asg.reply_due), _when(first_reply), _met(first_reply, asg.reply_due, as_of)])
        clocks.append(["办结", _when(asg.completion_due), _when(reply.at if reply else None),
                       _met(reply.at if reply else None, asg.completion_due, as_of)])
    steps = [[_when(e.at), {E.DISPATCHED: "交办", E.SIGNED: "签收", E.CONTACTED: "联系来电人", E.REPLIED: "答复",
                            E.REVIEWED: "审核", E.CALLBACK: "回访", E.REDO: "重办", E.EXTENDED: "延期",
                            E.PLANNED: "列入计划"}[E(e.kind)]]
             for e in mine if E(e.kind) in (E.DISPATCHED, E.SIGNED, *TOLD)]
    return {
        "number": t.number, "source": t.source, "received_at": _when(t.received_at),
        "category": category.name if category else t.category_code, "category_code": t.category_code,
        "content": mask_text(t.content, t.caller_name), "caller": f"{mask_name(t.caller_name)}（{mask_phone(t.caller_phone)}）",
        "address": mask_text(t.address, t.caller_name) or "—", "unit": unit, "contacts": contacts, "clocks": clocks, "steps": steps,
        "reply_kind": REPLY_KINDS.get(reply.reply_kind or "", "—") if reply else "—",
        "reply_text": mask_text(reply.note, t.caller_name) if reply and reply.note else "",
        "replied_at": _when(reply.at if reply else None),
        "callback_at": _when(callback.at) if callback else None,
        "satisfaction": SATISFACTION_WORDS.get(callback.satisfaction or "", "") if callback else "",
        "resolved": {True: "问题已解决", False: "问题未解决", None: ""}[callback.resolved] if callback else "",
        "as_of": _when(as_of),
    }


TITLES = {"ticket_national_report": "关于{category}问题（{number}）网民留言办理情况的报告",
          "ticket_provincial_statement": "{category}问题省级接诉即办单情况说明",
          "ticket_provincial_form": "省接诉即办承办单"}
BLANK = "＿" * 8


def _contact_text(f: dict) -> str:
    if not f["contacts"]:
        return "（导出数据未载明联系记录：请承办单位补充何人、何时、用何电话号码与来电人联系。）"
    return "".join(f"{c['at']}，{c['unit']}工作人员{c['person']}使用{c['phone']}与来电人{f['caller']}电话联系，"
                   "了解具体诉求。" for c in f["contacts"])


def _satisfaction_text(f: dict) -> str:
    if f["callback_at"] is None:
        return f"截至{f['as_of']}，区89000民生服务中心尚未回访，来电人满意度情况待回访后续报。"
    outcome = "，".join(x for x in (f"来电人评价“{f['satisfaction']}”" if f["satisfaction"] else "", f["resolved"]) if x)
    return f"{f['callback_at']}，区89000民生服务中心回访来电人，{outcome or '未作评价'}。"


def _outcome_text(f: dict) -> str:
    text = f["reply_text"] or "（答复内容未随工单导入：请承办单位补充问题落实情况。）"
    timely = {c[0]: c[3] for c in f["clocks"]}.get("办结", "—")
    return f"{f['unit']}于{f['replied_at']}答复（{f['reply_kind']}），办结{timely}：{text}"


def report(kind: str, f: dict, org: dict, words: list[str]) -> dict:
    """A report's content, the one model both the PDF (templates/documents/ticket_report.html) and the
    DOCX (worker.editable) are made from: title and its lines, 主送, sections (heading, paragraphs,
    table), signature lines, the seals of the 落款, 附注, and whether it is an interim report."""
    title = TITLES[kind].format(**f)
    interim = f["callback_at"] is None
    contact = f["contacts"][-1] if f["contacts"] else None
    note = f"承办单位：{f['unit']}" + (f"；联系人：{contact['person']}，联系电话：{contact['phone']}" if contact else "")
    content: dict[str, Any] = {"title": title, "title_lines": title_lines(title, words), "to": org["to"], "interim": interim,
               "annotation": note}
    if kind == "ticket_provincial_form":
        contacts = "\n".join(f"{c['at']} {c['person']}（{c['phone']}）" for c in f["contacts"]) or "（未载明）"
        timeliness = "\n".join(f"{c[0]}：{c[1]}前，{c[3]}" for c in f["clocks"][1:]) or "—"
        rows = [["工单编号", f["number"]], ["受理时间", f["received_at"]],
                ["事项类别", f"{f['category']}（{f['category_code']}）"], ["来电人", f["caller"]],
                ["诉求地址", f["address"]], ["诉求内容", f["content"]], ["承办单位", f["unit"]],
                ["联系来电人", contacts], ["答复类型", f["reply_kind"]], ["答复时间", f["replied_at"]],
                ["落实情况", f["reply_text"] or "（答复内容未随工单导入）"], ["办理时效", timeliness],
                ["回访情况", _satisfaction_text(f)],
                ["承办单位意见", f"主要负责人（签字）：{BLANK}\n（承办单位盖章）\n\n年　　月　　日"],
                ["区政府分管领导意见", f"（签字）：{BLANK}\n\n年　　月　　日"],
                ["区政府办公室意见", f"{org['issuer']}（盖章）\n\n年　　月　　日"]]
        return dict(content, sections=[{"heading": None, "paragraphs": [], "table": {
            "columns": ["项目", "内容"], "widths": [24, 76], "rows": rows, "form": True}}],
            sign_lines=[], seals=[], closing=None)
    intro = (f"{f['received_at']}，{SOURCE_WORDS.get(f['source'], '上级平台转办的诉求')}（工单编号：{f['number']}，"
             f"事项类别：{f['category']}）反映：{f['content']}（来电人：{f['caller']}；地址：{f['address']}）。"
             f"该事项由{f['unit']}承办，现将办理情况{'报告' if kind == 'ticket_national_report' else '说明'}如下：")
    clocks = {"columns": ["时限", "应完成时间", "实际完成时间", "是否按时"], "widths": [20, 29, 29, 22],
              "rows": f["clocks"], "form": True}
    sections = [{"heading": None, "paragraphs": [intro], "table": None},
                {"heading": "一、联系来电人情况", "paragraphs": [_contact_text(f)], "table": None},
                {"heading": "二、问题落实情况", "paragraphs": [_outcome_text(f)], "table": clocks},
                {"heading": "三、来电人满意度情况", "paragraphs": [_satisfaction_text(f)], "table": None}]
    if kind == "ticket_national_report":
        return dict(content, sections=sections, closing="特此报告。",
                    sign_lines=[f"区政府分管领导（签字）：{BLANK}", f"区政府主要领导（签字）：{BLANK}"],
                    seals=[f"{org['issuer']}（盖章）"])
    return dict(content, sections=sections, closing="特此说明。",
                sign_lines=[f"承办单位主要负责人（签字）：{BLANK}", f"区政府分管领导（签字）：{BLANK}"],
                seals=[f"{f['unit']}（盖章）", f"{org['issuer']}（盖章）"])


@job("ticket_reports", period="day", family="reports")
def ticket_reports(ctx: JobContext):
    s, as_of = ctx.session, ctx.as_of
    kinds_by_source = policy.documents(ctx.settings.config_dir).ticket_reports
    names = unit_names(s)
    words = title_words(s)
    made = []
    for ticket_id in due_for_report(s, list(kinds_by_source), as_of - LOOKBACK, as_of):
        facts = ticket_facts(s, ticket_id, as_of, names, ctx.rules.response_hours)
        attachments, versions, interim = [], [], False
        for kind in kinds_by_source[facts["source"]]:
            org = organisation(kind)
            content = report(kind, facts, org, words)
            before = s.scalar(select(func.max(DocumentVersion.version)).join(Document).where(
                Document.kind == kind, Document.scope == facts["number"])) or 0
            # The DOCX is written from the same content and date; the PDF's bytes decide the version.
            dated = s.scalar(select(Document.issued_on).where(Document.kind == kind, Document.scope == facts["number"]))
            editable = docx_report(content, date=dated or ctx.issue_date)
            doc, pdf = store(ctx, kind=kind, scope=facts["number"], title=content["title"],
                             template="documents/ticket_report.html", report=content, companions={"docx": editable})
            version = latest_version(s, doc).version
            if version > before:
                name = content["title"] + ("（阶段性报告）" if content["interim"] else "")
                attachments += [Attachment(f"{name}.pdf", pdf), Attachment(f"{name}.docx", editable)]
            versions.append(version)
            interim = interim or content["interim"]
        if not attachments:
            continue
        issue = max(versions)
        state = "阶段性报告，待回访后续报" if interim else "含回访结果"
        notify(ctx, kind="ticket_report", groups=["hotline_center"], scope=f"{facts['number']}:v{issue}",
               subject=f"【工单报告】{facts['number']}（{facts['category']}）办理情况{'（第' + str(issue) + '版）' if issue > 1 else ''}",
               lines=[(f"工单 {facts['number']} 的办理情况报告代拟稿（{state}）已生成，现将 PDF 与可编辑的 DOCX 电子版"
                       "发送给您，请审核后交承办单位按程序报签、盖章。"
                       + ("此前版本已作废，以本版为准。" if issue > 1 else ""))], attachments=attachments)
        made.append(facts["number"])
    ctx.summary.update(tickets=made)


actors = make_actors("ticket_reports")
