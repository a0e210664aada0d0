"""Actors that speak to the units and their leaders before it is too late (预警, seed 004 日调度;
seed 002 即督快响): each unit's own daily list, and each leader in charge's weekly digest."""
from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from ..asof import view
from ..config import policy
from ..detection import fell_due_between, list_columns, overdue_open, warning_horizon, warnings
from ..documents import moment_of, pdf_name, store
from ..forecast import forecast, forecast_words, week_label
from ..jobs import JobContext, job
from ..ladder import describe, ladder_at
from ..mail import Attachment
from ..metrics import compute, data_coverage, incomparable
from ..models import Oversight, Person, Ticket, TicketEvent
from ..notify import notify
from ..rendering import mask_text
from ..supervision import ledger
from ..vocabulary import unit_names
from .base import make_actors
from .reports import window_start

SECTIONS = (("warning", "即将到期（预警）"), ("overdue", "新增超期"), ("redo", "退回重办"),
            ("reassigned", "回退后改派给你单位"))


def _line(t: dict, clock: str) -> str:
    return f"{t['number']}：{mask_text(t['content'], t.get('caller_name'))[:40]}（{clock}）"


def _when(label: str, due) -> str:
    return f"{label} {due.month}月{due.day}日 {due:%H:%M}"


def daily_lists(s: Session, as_of, since, horizon, *scope) -> dict[str, dict[str, list[str]]]:
    """Per unit, per section (``SECTIONS``), the lines of its daily list at ``as_of``: due within the
    warning window on either clock, newly overdue (fell due since ``since``), sent back for redo,
    re-dispatched to it after a return, each with its clock; ``scope``: conditions on the
    assignment (the console's, on ``view(s, as_of).A``).  The e-mail and the console's today page read
    these same lines."""
    A = view(s, as_of).A
    by_unit: dict[str, dict[str, list[str]]] = {}

    def add(unit, section, line):
        by_unit.setdefault(unit, {}).setdefault(section, []).append(line)

    for t in warnings(s, as_of, horizon, *scope):
        add(t["unit_code"], "warning", _line(t, _when(t["clock_label"], t["clock_due"])))
    for t in overdue_open(s, as_of, fell_due_between(A, since, as_of), *scope):
        add(t["unit_code"], "overdue", _line(t, f"已超过{_when(t['clock_label'], t['clock_due'])}"))
    redone = s.execute(select(*list_columns(A), TicketEvent.at).join(Ticket, Ticket.id == A.ticket_id)
                       .join(TicketEvent, and_(TicketEvent.ticket_id == A.ticket_id, TicketEvent.kind == "redo"))
                       .where(A.is_current.is_(True), TicketEvent.at > since, TicketEvent.at <= as_of, *scope)
                       .order_by(A.unit_code, Ticket.number))
    for r in redone:
        t = r._asdict()
        add(t["unit_code"], "redo", _line(t, f"{t['at'].month}月{t['at'].day}日 {t['at']:%H:%M}退回重办，"
                                             f"{_when('办结时限', t['completion_due'])}"))
    moved = s.execute(select(*list_columns(A), A.dispatched_at).join(Ticket, Ticket.id == A.ticket_id)
                      .where(A.dispatched_at > since, A.dispatched_at <= as_of, A.seq > 1, A.ticket_return_count >= 1,
                             *scope)
                      .order_by(A.unit_code, Ticket.number))
    for r in moved:
        t = r._asdict()
        add(t["unit_code"], "reassigned", _line(t, f"{t['dispatched_at'].month}月{t['dispatched_at'].day}日改派，"
                                                   f"{_when('办结时限', t['completion_due'])}"))
    return by_unit


@job("unit_daily", period="day", family="units")
def unit_daily(ctx: JobContext):
    """Each unit with something to act on gets one message with only its own tickets
    (``daily_lists``); to its liaisons, copied to its head when ``copy_head`` is set.
    No message on a day with nothing to say."""
    s, as_of = ctx.session, ctx.as_of
    by_unit = daily_lists(s, as_of, window_start(ctx), warning_horizon(ctx.cal, as_of))
    names = unit_names(s)
    groups = ["liaison"] + (["unit_head"] if ctx.params.get("copy_head") else [])
    sent = 0
    for unit, sections in sorted(by_unit.items()):
        n = {k: len(sections.get(k, [])) for k, _ in SECTIONS}
        lines = [f"截至{as_of.month}月{as_of.day}日 {as_of:%H:%M}，你单位承办的以下12345热线工单需及时办理："]
        for key, title in SECTIONS:
            if sections.get(key):
                lines.append(f"{title}（{len(sections[key])}件）：")
                lines += [f"{i}. {line}" for i, line in enumerate(sections[key], 1)]
        subject = (f"【工单提醒】{names.get(unit, unit)}{as_of.month}月{as_of.day}日需关注工单 {sum(n.values())} 件"
                   f"（预警 {n['warning']}、"
                   f"超期 {n['overdue']}、重办 {n['redo']}、改派 {n['reassigned']}）")
        sent += notify(ctx, kind="unit_daily", scope=unit, unit_code=unit, groups=groups, subject=subject, lines=lines)
    ctx.summary.update(units=len(by_unit), messages=sent)


@job("leader_digest", period="week", family="units")
def leader_digest(ctx: JobContext):
    """Each leader in charge gets, with the weekly bulletin, one page on the units they oversee: 双率
    and rank, the change on the week before, overdue, ladder state, open supervision letters, and the
    units one failing week away from a tier (提前预警)."""
    s = ctx.session
    names = unit_names(s)
    cfg = policy.metrics(ctx.settings.config_dir)
    # A schedule with ``period: current`` sends it mid-week: the week so far, and from Wednesday
    # where it is heading, in the desk's words (``worker.forecast``); its own document beside
    # the week's final digest.
    partial = ctx.report_period.end_at > ctx.moment   # fired before the week's end (not a re-run of a past week)
    weekly = forecast(s, ctx.moment, cfg=cfg) if partial else None
    so_far = weekly["result"] if weekly else compute(s, ctx.report_period, as_of=ctx.moment if partial else None, cfg=cfg)
    now, before = so_far.by_code(), compute(s, ctx.report_period.previous(), cfg=cfg).by_code()
    # DOMAIN.md "Partial periods": no week-on-week change against a week whose data is incomplete.
    why_not = incomparable(data_coverage(s, ctx.report_period), data_coverage(s, ctx.report_period.previous()),
                           sum(u.dispatches for u in before.values()), "上周")
    if why_not:
        before = {}
    ranked = sum(1 for u in now.values() if u.rank)

    letters: dict[str, list] = {}
    for e in ledger(s, ctx.report_period.end_at):
        if e.state != "closed":
            letters.setdefault(e.unit_code, []).append(e)
    leaders = s.scalars(select(Person).where(Person.role == "leader_in_charge").order_by(Person.id)).all()
    # One moment for every digest of the run: the first one's, when they are rendered again.
    suffix = ":midweek" if partial else ""
    ladder = ladder_at(s, moment_of(ctx, "leader_digest", f"{ctx.report_period.key}:{leaders[0].id}{suffix}") if leaders
                       else ctx.moment)
    documents = 0
    for leader in leaders:
        units = sorted(s.scalars(select(Oversight.unit_code).where(Oversight.person_id == leader.id)))
        if not units:
            continue
        rows, warned, heading = [], [], []
        for code in units:
            m, p, st = now.get(code), before.get(code), ladder.get(code)
            if m is None:
                continue
            sat, prev = m.dual_satisfaction, (p.dual_satisfaction if p else None)
            trend = "—" if sat.value is None or prev is None or prev.value is None else \
                f"{100 * (sat.value - prev.value):+.2f}个百分点"
            open_letters = letters.get(code, [])
            rows.append({"unit_name": names.get(code, code), "resolution": m.dual_resolution,
                         "satisfaction": sat, "rank": f"{m.rank}/{ranked}" if m.rank else "—", "trend": trend,
                         "overdue": m.overdue,
                         "ladder": "—" if not (st and st.active) else
                         f"{describe(st)['tier'] if st.tier else '尚未启动问责'}\n连续{describe(st)['streak']}",
                         "letters": f"{sum(1 for e in open_letters if e.state == 'overdue')}/{len(open_letters)}"
                         if open_letters else "—"})
            if weekly and code in weekly["units"] and (m.rank or m.dispatches):   # units with no work this week: nothing to say
                f = weekly["units"][code]
                heading.append(f"{names.get(code, code)}：{forecast_words(f['m'], f['ranked'], '该单位')}"
                               f"尚待回访 {f['waiting']} 件。")
            if st and st.next_week:
                warned.append(f"{names.get(code, code)}已连续{st.weekly_streak}周“双率”未达标，下周仍未达标将启动"
                              f"“{st.next_week.label}”")
        label = week_label(ctx.moment) if partial else ctx.report_period.label()
        title = f"分管单位12345热线工作{'本周走势' if partial else '周报'}（{leader.name}）"
        _doc, pdf = store(ctx, kind="leader_digest", scope=f"{ctx.report_period.key}:{leader.id}{suffix}", title=title,
                         template="documents/leader_digest.html", period_label=label,
                         leader=f"{leader.name}{leader.title or '同志'}", heading=heading, partial=partial,
                         rows=rows, warned=warned, trend_note=f"{why_not}，满意率不作环比。" if why_not else "")
        notify(ctx, kind="leader_digest", scope=str(leader.id), people=[leader], groups=[],
               subject=f"【分管单位{'本周走势' if partial else '周报'}】{label}分管单位“双率”及督办情况",
               lines=[f"现将{label}您分管的 {len(rows)} 个单位12345热线工作情况报送您。"] + heading + warned,
               attachments=[Attachment(pdf_name(title, label), pdf)])
        documents += 1
    ctx.summary.update(leaders=documents)


actors = make_actors("unit_daily", "leader_digest")
