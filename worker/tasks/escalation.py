"""Escalation and supervision actors: the weekly and monthly ladder (约谈、质询), supervision
letters (督办函) and the analysis group's notice of tickets returned twice or more."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, exists, or_, select
from sqlalchemy.orm import Session

from ..asof import view
from ..calendar import UnknownYearError
from ..config import policy
from ..detection import (
    COMPLETION,
    REPLY,
    open_at,
    overdue_open,
    past_due,
    returned_twice,
    unresolved_callbacks,
)
from ..documents import contact, document_label, pdf_name, reserve, store
from ..escalation import tier_label
from ..jobs import JobContext, job, spawn_part
from ..ladder import evaluate, notice_of
from ..mail import Attachment
from ..metrics import Rate
from ..models import SupervisionItem
from ..notify import notify
from ..periods import containing, parse_key
from ..policy_schema import Contact, Meeting, Tier
from ..recipients import GROUPS, people_of
from ..rendering import public_ticket, rate_text, return_link
from ..times import chinese_date
from ..vocabulary import unit_names
from .base import make_actors

# The failure a letter names: the clock missed, or the callback that found the matter unresolved.
log = logging.getLogger("hotline.escalation")

STAGES = {REPLY: "答复超期", COMPLETION: "办结超期", "unresolved": "回访未解决"}
STAGE_CLOCK = {REPLY: "答复时限", COMPLETION: "办结时限", "unresolved": "回访时间"}


def _week_row(r) -> dict:
    """A period of the failing run as the notice's table shows it."""
    rate = lambda v: v if isinstance(v, str) else Rate(*v)
    res, sat = rate(r.detail.get("resolution", [0, 0])), rate(r.detail.get("satisfaction", [0, 0]))
    show = lambda x: x if isinstance(x, str) else rate_text(x).replace("（", "\n（", 1)
    return {"label": parse_key(r.period_key).label(), "resolution": show(res), "satisfaction": show(sat),
            "rank": r.detail.get("rank") or "—"}


def working_days_after(ctx: JobContext, n: int):
    """The date N working days after the notice; None when the calendar does not know that year
    yet (the notice then says the date will follow: never a weekday guess)."""
    try:
        return ctx.cal.add_working_days(ctx.issue_date, n)
    except UnknownYearError as exc:
        log.warning("notice of %s: no working-day calendar for %s; the date is left to follow", ctx.issue_date, exc.year)
        return None


def meeting_of(ctx: JobContext, tier: Tier, defaults: Meeting) -> dict | None:
    """When, where and with whom an interview tier meets: N working days after the notice (what
    the tier leaves out, from ``meeting_defaults``)."""
    if tier.meeting is None:
        return None
    m = defaults.model_copy(update=tier.meeting.model_dump(exclude_unset=True))
    return {"date": working_days_after(ctx, m.after_working_days), "time": m.at, "place": m.place, "with": m.with_}


def when_text(day) -> str:
    return chinese_date(day) if day is not None else "另行通知的日期"


ROLE_WORDS = {"leader_in_charge": "区级分管领导", "principal_leader": "区政府主要领导"}


def interviewer(session: Session, who: str, unit_code: str) -> str:
    """The interviewing leader as the directory names them (副区长邓建国同志); ``who`` is a directory
    role (leader_in_charge: the leader overseeing the unit) or a name given as it is."""
    if who not in GROUPS:
        return who
    _role, people = people_of(session, who, unit_code)
    named = [f"{p.title or ''}{p.name}同志" for p in people]
    return "、".join(named) or ROLE_WORDS.get(who, who)


def _ladder(ctx: JobContext):
    s = ctx.session
    names = unit_names(s)
    fired = evaluate(s, ctx.cal, ctx.report_period, ctx.moment)
    defaults = policy.escalation(ctx.settings.config_dir).meeting_defaults
    office = contact()
    for f in fired:
        _notify_tier(ctx, f, names.get(f.unit_code, f.unit_code), defaults, office)
    ctx.summary["escalations"] = [{"unit": f.unit_code, "tier": f.tier.name, "streak": f.streak,
                                   "period": f.period.key} for f in fired]


def _notify_tier(ctx: JobContext, f, unit_name: str, defaults: Meeting, office: Contact) -> None:
    """A tier's documents and messages: the 提请 to the body asked (tiers 3, 4), the unit's notice,
    and one e-mail per recipient worded for them — the unit acts, the interviewer is asked to hold the
    interview, the leaders are informed, the body asked receives the 提请, the centre is copied."""
    s, tier = ctx.session, f.tier
    unit_word = "周" if f.period.kind == "week" else "个月"
    since = parse_key(f.run_started)
    reason = (f"连续{f.streak}{unit_word}“双率”未达到区级要求且排名靠后"
              f"（自{since.start.month}月{since.start.day}日起）")
    scope = f"{f.unit_code}:{tier.name}:{f.run_started}"
    fill = lambda text: str(text).replace("{unit}", unit_name)
    meeting = meeting_of(ctx, tier, defaults)
    if meeting:
        meeting["with"] = interviewer(s, meeting["with"], f.unit_code)
    cited = notice_of(s, f.cites) if f.cites is not None else None   # the tier it follows (ladder: requires)
    cited_text = f"（见{chinese_date(cited.issued_on)}《{cited.title}》，{document_label(cited)}）" \
        if cited and cited.issued_on else ""
    weeks = [_week_row(r) for r in f.history]
    materials_due = working_days_after(ctx, tier.materials_working_days)
    ask = tier.submission
    submission = None
    if ask:
        request = fill(ask.request).replace("{cited}", cited_text)
        submission, submission_pdf = store(
            ctx, kind="submission", scope=scope, title=fill(ask.title), to=ask.to,
            template="documents/submission.html", unit_name=unit_name, reason=reason, request=request,
            closing=ask.closing, weeks=weeks)
    decision = fill(tier.decision or tier_label(tier)).replace("{interviewer}", meeting["with"] if meeting else "") \
        .replace("{submission}", document_label(submission) if submission else "").replace("{cited}", cited_text)
    title = fill(tier.title or f"关于{tier_label(tier)}的通知")
    doc, pdf = store(ctx, kind="interview_notice", scope=scope, title=title, to=unit_name,
                     template="documents/interview_notice.html", extra_cc=[ask.to] if ask else [],
                     reason=reason, decision=decision, meeting=meeting, materials_due=materials_due, contact=office,
                     weeks=weeks)
    notice = Attachment(pdf_name(f"{unit_name}{title}", f.period.label()), pdf)
    label, subject = document_label(doc), f"【{tier_label(tier)}】{unit_name}{reason}"
    when = ([(f"约谈时间：{when_text(meeting['date'])}{meeting['time']}；地点：{meeting['place']}；"
              f"约谈人：{meeting['with']}。")] if meeting else [])
    told = lambda groups, kind, lines, attachments, contact_lines=None: notify(
        ctx, kind=kind, scope=scope, unit_code=f.unit_code, groups=list(groups), subject=subject, lines=lines,
        contact_lines=contact_lines, attachments=attachments)
    # The unit acts on its notice.
    told(tier.recipients, "interview_notice",
         [f"你单位{reason}。根据监督约谈机制，{decision}通知（{label}）见附件，请认真分析原因、抓好整改。", *when],
         [notice], [(f"书面材料：请于{when_text(materials_due)}前报{office.office}"
                     f"（联系人：{office.name}，电话：{office.phone}）。")])
    third_person = decision.replace("你单位", unit_name)
    # The interviewer is asked to hold the interview; the other leaders are informed.
    if meeting and tier.meeting and tier.meeting.with_ in GROUPS:
        told([tier.meeting.with_], "interview_notice",
             [(f"{unit_name}{reason}。根据监督约谈机制，拟请您于{when_text(meeting['date'])}{meeting['time']}在"
               f"{meeting['place']}约谈{unit_name}主要负责同志。约谈通知（{label}）见附件，请审阅。")], [notice])
    told(tier.informed, "interview_notice",
         [f"{unit_name}{reason}。根据监督约谈机制，{third_person}通知（{label}）见附件，呈请阅知。", *when], [notice])
    if submission is not None:
        told(ask.recipients, "submission",
             [(f"{unit_name}{reason}。{request}现将《{submission.title}》（{document_label(submission)}）"
               f"送上，{ask.closing}")],
             [Attachment(pdf_name(submission.title, f.period.label()), submission_pdf)])
    told(tier.cc, "interview_notice",
         [(f"{unit_name}{reason}。{third_person}通知（{label}）已印发，请做好书面材料接收和整改跟踪，"
           f"书面材料应于{when_text(materials_due)}前报送。")],
         [notice] + ([Attachment(pdf_name(submission.title, f.period.label()), submission_pdf)] if submission else []))


@job("escalation_weekly", period="week", family="escalation")
def escalation_weekly(ctx: JobContext):
    _ladder(ctx)


@job("escalation_monthly", period="month", family="escalation")
def escalation_monthly(ctx: JobContext):
    _ladder(ctx)


def letter_deadline(ctx: JobContext):
    """The date by which a supervised unit must act: N working days after the letter
    (``supervision.act_within_working_days`` in config/metrics.yaml)."""
    return working_days_after(ctx, policy.metrics(ctx.settings.config_dir).supervision.act_within_working_days)


@job("supervision", period="day", family="escalation")
def supervision(ctx: JobContext):
    """The day's 督办函: decides which tickets each unit is lettered for (``SupervisionItem``, once
    per ticket and stage) and leaves each unit's letter to a part of its own (``supervision_letter``),
    with the rows and the deadline decided here.  Rendering is nearly all of the job (WeasyPrint,
    about 0.2 s a letter: 91 % of the large year's supervision) and the letters are independent, so
    the parts are rendered by whichever worker processes are free, in parallel (docs/scale.md).
    The letters' numbers (莱政办督〔2026〕N号) are reserved here, in the units' order, as they were
    when this run rendered every letter itself: parts numbering themselves in parallel would read
    the same largest number."""
    s, day, as_of = ctx.session, ctx.issue_date, ctx.as_of
    names = unit_names(s)
    since = containing("week", as_of).start_at
    rules = policy.metrics(ctx.settings.config_dir).supervision
    # Once per ticket and stage.  The stage of an overdue ticket is the clock it missed (completion
    # once that passed, else reply); tickets with a letter for that stage from another day are not
    # read at all, so a ticket lettered for its reply gets a second letter when it misses completion.
    A = view(s, as_of).A
    stage_now = case((A.completion_due < as_of, COMPLETION), else_=REPLY)
    lettered = exists().where(SupervisionItem.ticket_id == A.ticket_id, SupervisionItem.stage == stage_now,
                              SupervisionItem.day != day)
    # The unlettered overdue assignments first, then their rows by id: in one statement the planner
    # misjudges "open then, past due and unlettered" by an order of magnitude and reads every ticket
    # to join them, a cost that grows with the whole history rather than with the overdue ones.
    unlettered = list(s.scalars(select(A.id).where(open_at(A, as_of), past_due(A, as_of), ~lettered))) \
        if rules.overdue else []
    candidates = [(t, t["clock"], t["clock_due"]) for t in overdue_open(s, as_of, A.id.in_(unlettered))] \
        if unlettered else []
    candidates += [(t, "unresolved", t["callback_at"])
                   for t in unresolved_callbacks(s, since, as_of, rules.unresolved_requires_unsatisfied)]
    known = {(i.ticket_id, i.stage): i for i in s.scalars(select(SupervisionItem).where(
        SupervisionItem.ticket_id.in_({t["ticket_id"] for t, _, _ in candidates} or {0})))}
    todays: dict[str, list[dict]] = {}
    deadline = letter_deadline(ctx) if candidates else None
    for t, stage, due in candidates:
        item = known.get((t["ticket_id"], stage))
        if item is None:
            item = SupervisionItem(ticket_id=t["ticket_id"], stage=stage, unit_code=t["unit_code"], day=day,
                                   deadline=deadline)
            s.add(item)
            known[(t["ticket_id"], stage)] = item
        if item.day == day:
            row = public_ticket(t, names)
            row.update(stage=stage, stage_label=STAGES[stage], clock_label=STAGE_CLOCK[stage], clock_due=due)
            todays.setdefault(t["unit_code"], []).append(row)
    s.flush()
    for unit_code, rows in sorted(todays.items()):
        reserve(ctx, kind="supervision_letter", scope=letter_scope(day, unit_code), title=LETTER_TITLE)
        spawn_part(ctx, "supervision_letter", unit_code, {
            "unit": unit_code, "deadline": deadline.isoformat() if deadline else None,
            "rows": [{k: row[k].isoformat(sep=" ") if isinstance(row[k], datetime) else row[k] for k in LETTER_FIELDS}
                     for row in rows]})
    ctx.summary.update(letters=len(todays))


LETTER_TITLE = "12345热线工单督办函"
# What a letter's row shows (templates/documents/_tickets.html) and names (``DocumentTicket``): the
# part carries these, masked as the letter prints them (``public_ticket``), nothing more.
LETTER_FIELDS = ("ticket_id", "number", "caller_name", "caller_phone", "content", "stage", "stage_label",
                 "clock_label", "clock_due")


def letter_scope(day, unit_code: str) -> str:
    return f"{day.isoformat()}:{unit_code}"


@job("supervision_letter", period="day", family="escalation")
def supervision_letter(ctx: JobContext):
    """One unit's 督办函, a part of a supervision run (``jobs.spawn_part``): rendered with the rows and
    the deadline that run decided, under the number it reserved, and sent to the unit's head and
    liaison.  Executed again it renders the same letter under the same number and date and sends
    nothing twice (``documents.store``; ``notify``'s key is supervision's, ``JobContext.speaks_for``)."""
    unit_code, day = ctx.params["unit"], ctx.issue_date
    unit_name = unit_names(ctx.session).get(unit_code, unit_code)
    deadline = date.fromisoformat(ctx.params["deadline"]) if ctx.params.get("deadline") else None
    rows = [dict(r, clock_due=datetime.fromisoformat(r["clock_due"]) if r["clock_due"] else None)
            for r in ctx.params["rows"]]
    stages = [STAGES[k] for k in STAGES if any(r["stage"] == k for r in rows)]
    office = contact()
    doc, pdf = store(ctx, kind="supervision_letter", scope=letter_scope(day, unit_code), title=LETTER_TITLE,
                     to=unit_name, template="documents/supervision_letter.html", rows=rows, stages=stages,
                     deadline=deadline, contact=office)
    notify(ctx, kind="supervision_letter", scope=unit_code, unit_code=unit_code, groups=["unit_head", "liaison"],
           subject=f"【督办函】{unit_name}12345热线工单 {len(rows)} 件（{'、'.join(stages)}）",
           lines=[(f"你单位承办的 {len(rows)} 件12345热线工单{'、'.join(stages)}，现予挂牌督办"
                  f"、实行销号管理（{document_label(doc)}），请于{when_text(deadline)}前办理完毕并书面反馈，详见附件督办函。")],
           contact_lines=[(f"办理情况反馈：{office.office}（联系人：{office.name}，"
                          f"电话：{office.phone}，邮箱：{office.email}）。")],
           attachments=[Attachment(pdf_name(f"{unit_name}督办函", ctx.report_period.label()), pdf)])
    ctx.summary.update(unit=unit_code, tickets=len(rows))


# Tickets queued in the last month are looked at: each is notified once, by the first run after it
# was queued (``SupervisionItem`` stage "analysis" marks it); a longer outage than this loses none
# from the daily sheets' lists, only from the notices.
ANALYSIS_LOOKBACK = timedelta(days=31)


@job("analysis_notice", period="day", family="escalation")
def analysis_notice(ctx: JobContext):
    """The analysis group (分析研判小组) told of each ticket that joined its queue — returned twice, or
    no owner fixed within the ownership hours (即督快响) — with the chain of returns and the
    territorial fallback (属地兜底): one notice per ticket, within the hour (the schedule runs hourly
    in working hours), never twice."""
    s, as_of = ctx.session, ctx.as_of
    names = unit_names(s)
    queued = returned_twice(s, as_of, as_of - ANALYSIS_LOOKBACK)
    notified = set(s.scalars(select(SupervisionItem.ticket_id).where(
        SupervisionItem.stage == "analysis", SupervisionItem.ticket_id.in_([t["ticket_id"] for t in queued] or [0]))))
    settled = owner_fixed(s, as_of, [t["ticket_id"] for t in queued if t["ticket_id"] not in notified])
    fresh = [t for t in queued if t["ticket_id"] not in notified and t["ticket_id"] not in settled]
    for t in fresh:
        s.add(SupervisionItem(ticket_id=t["ticket_id"], stage="analysis", unit_code="A00", day=ctx.issue_date))
        row = public_ticket(t, names)
        fallback = names.get(t["fallback_unit_code"], t["fallback_unit_code"] or "—")
        notify(ctx, kind="analysis_notice", groups=["analysis_group"], scope=row["number"],
               subject=f"【会商研判】工单{row['number']}待确定承办单位（{t['why']}）",
               lines=[f"工单 {row['number']}（{t['why']}），请分析研判小组确定承办单位，无法确定的由属地兜底。",
                      f"诉求内容：{row['content'][:100]}", "回退经过：",
                      *[f"  {i}. {return_link(c, names, t.get('caller_name'))}" for i, c in enumerate(t["chain"], 1)],
                      f"属地兜底建议：{fallback}"])
    ctx.summary.update(analysis=[t["number"] for t in fresh], settled_before_notice=len(settled))


def owner_fixed(session: Session, as_of, ticket_ids: list[int]) -> set[int]:
    """Those of these tickets the analysis group no longer needs at ``as_of``: re-dispatched and signed
    by a unit that has not returned it, or replied.  A notice is decided on the state when it is
    sent, not when the ticket joined the queue (one signed three hours after its return is not
    announced as 「交办满24小时仍未明确承办单位」); a later return puts it before the group again."""
    if not ticket_ids:
        return set()
    A = view(session, as_of).A
    return set(session.scalars(select(A.ticket_id).where(
        A.ticket_id.in_(ticket_ids), A.is_current.is_(True),
        or_(and_(A.signed_at <= as_of, or_(A.returned_at.is_(None), A.returned_at > as_of)),
            A.first_replied_at <= as_of))))


actors = make_actors("escalation_weekly", "escalation_monthly", "supervision", "supervision_letter", "analysis_notice")
