"""Report actors: daily sheet, law-enforcement push, weekly bulletin, monthly analysis,
quarterly and annual law-enforcement reports (日调度、执法推送、周通报、月分析、季度/年度分析)."""
from __future__ import annotations

import logging
import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..asof import view
from ..assignments import law_codes
from ..calendar import UnknownYearError
from ..config import policy
from ..daily_sheet import complete_lists, gather, serious_cases
from ..detection import (
    previous_workday_same_time,
    recurring_problems,
    repeat_ledger,
    warning_horizon,
    widespread,
)
from ..documents import moment_of, pdf_name, store
from ..grading import grade, repeat_window
from ..jobs import JobContext, job
from ..ladder import ladder_table
from ..law_push import NEW, listed_tickets, push_rows, serious_first, totals, unit_counts
from ..mail import Attachment
from ..metrics import (
    bottom_count,
    category_rates,
    comparison,
    compute,
    data_coverage,
    data_start,
    hot_categories,
    incomparable,
    period_volume,
    score,
    trend,
    unit_category_volumes,
)
from ..models import Category, Escalation, EscalationState, Run, RunState, Ticket
from ..notify import notify
from ..periods import containing, parse_key
from ..rendering import bar_chart, line_chart, mask_phone, mask_text, public_ticket
from ..spreadsheets import LAW_PUSH_COLUMNS, law_push_rows, workbook
from ..supervision import closeout_report, ledger
from ..supervision import counts_by_unit as letter_counts
from ..vocabulary import unit_names
from .base import make_actors

log = logging.getLogger("hotline.reports")


def _recipients(ctx: JobContext, default: list[str]) -> list[str]:
    return list(ctx.params.get("recipients") or default)


LEADERS = {"principal_leader", "leaders_in_charge", "leader_in_charge", "peoples_congress", "district_committee"}
UNITS = {"unit_heads", "unit_head", "liaisons", "liaison"}


def audiences(groups: list[str]) -> dict[str, list[str]]:
    """Recipient groups by how a message speaks to them: the units act, the leaders are informed."""
    return {"units": [g for g in groups if g in UNITS], "leaders": [g for g in groups if g in LEADERS],
            "others": [g for g in groups if g not in UNITS | LEADERS]}


def window_start(ctx: JobContext):
    try:
        return previous_workday_same_time(ctx.cal, ctx.as_of)
    except UnknownYearError:
        return ctx.as_of - timedelta(days=1)


def _widespread_told(ctx: JobContext, week, since: datetime) -> set[str]:
    """The categories already told this week: those any other sheet of the week alerted, as its run
    recorded them (``widespread_alerts`` in its summary), whatever its moment — a sheet executed
    again for an earlier day does not tell again what a later one told, and a category made
    widespread by a ticket imported late is told by the next sheet, since no sheet told it.  Only
    when the week's sheets ran before runs recorded it are the categories counted again as of the
    previous sheet (``since``), deriving every ticket touched since then again as of it."""
    summaries = [summary or {} for summary in ctx.session.scalars(
        select(Run.summary).where(Run.job == "daily_sheet", Run.state == RunState.SUCCEEDED.value, Run.id != ctx.run.id,
                                  Run.nominal_at >= week.start_at, Run.nominal_at < week.end_at))]
    if any("widespread" in summary for summary in summaries):
        return {code for summary in summaries for code in summary.get("widespread_alerts", [])}
    if summaries and since > week.start_at:
        return {w["code"] for w in widespread(ctx.session, week, until=since)}
    return set()


def _alert_widespread(ctx: JobContext, since: datetime) -> None:
    """普遍性 (class A, seed 002 「实时监测…及时预警」): a category that became widespread this week
    since the last sheet is told to the centre that day, not only in the monthly analysis."""
    week = containing("week", ctx.as_of)
    now = widespread(ctx.session, week, until=ctx.as_of)
    ctx.summary["widespread"] = [w["code"] for w in now]
    told = _widespread_told(ctx, week, since)
    fresh = [w for w in now if w["code"] not in told]
    if not fresh:
        return
    lines = [f"本周（{week.label()}）以来，以下事项呈普遍性，请研判并督促相关单位及时处置："]
    lines += [f"{w['name']}（{w['code']}）：{w['volume']} 件，涉及 {w['units']} 个承办单位"
              + (f"，前几周周均 {w['baseline']:g} 件，明显上升" if w["spike"] else "") for w in fresh]
    # Keyed by what it tells: a second sheet of the day telling other categories is a message of its own.
    notify(ctx, kind="widespread_alert", groups=_recipients(ctx, ["hotline_center"]),
           scope=",".join(sorted(w["code"] for w in fresh)),
           subject=f"【普遍性预警】{'、'.join(w['name'] for w in fresh)}", lines=lines)
    ctx.summary["widespread_alerts"] = [w["code"] for w in fresh]


@job("daily_sheet", period="day", family="reports")
def daily_sheet(ctx: JobContext):
    """The centre's 日调度 (``worker.daily_sheet``): the counts of every unit and the first serious
    cases of each kind in the PDF, every list complete in the XLSX of the same message."""
    s, as_of, cfg = ctx.session, ctx.as_of, policy.metrics(ctx.settings.config_dir)
    # A gap in the working-day calendar is the operators' matter (the scheduler alerts the owners of
    # config/alerts.yaml, hotline doctor shows it), never printed on the centre's sheet.
    try:
        horizon = warning_horizon(ctx.cal, as_of, cfg.warning_working_days)
    except UnknownYearError as exc:
        log.warning("daily sheet %s: warnings computed 24 hours ahead (no working-day calendar for %s)", as_of, exc.year)
        horizon = as_of + timedelta(days=1)
    since = window_start(ctx)
    # Grade (敏感/重大/一般, A/B/C) the tickets of the repeat window, so repeats seen today count.
    ctx.summary["grades_changed"] = grade(s, as_of - repeat_window(cfg), as_of, cfg)
    levels = list[str](cfg.grading.daily_sheet_levels)
    sheet = gather(s, as_of, since, horizon, unit_names(s), levels)
    n, lists, totals = serious_cases(), sheet.lists, sheet.totals
    fresh = sum(1 for t in lists["overdue"] if t["fresh"])
    title = "12345热线工单日调度"
    label = ctx.report_period.label()
    groups = _recipients(ctx, ["hotline_center"])
    data = complete_lists(sheet)
    data_name = pdf_name(title, label).removesuffix(".pdf") + "（完整清单）.xlsx"
    firsts: dict[str, Any] = {k: sheet.first(k, n) for k in ("graded", "overdue", "returned_twice", "late_returns")}
    _doc, pdf = store(ctx, kind="daily_sheet", scope=ctx.report_period.key, title=title, recipients=groups,
                      template="documents/daily_sheet.html", companions={"xlsx": data},
                      as_of=as_of, unit_rows=sheet.unit_rows, totals=totals, limit=n, data_name=data_name,
                      counts={k: len(v) for k, v in lists.items()}, fresh_overdue=fresh,
                      **firsts,
                      ownership_hours=ctx.rules.ownership_dispute_hours,
                      levels=levels, listed_in_data=lists)
    _alert_widespread(ctx, since)
    notify(ctx, kind="daily_sheet", groups=groups,
           subject=f"【日调度】{label}12345热线工单调度情况",
           lines=[(f"现将{label}12345热线工单调度情况发送给您：在办 {totals['open']} 件，预警 {totals['warning']} 件，"
                  f"超期 {totals['overdue']} 件（上次调度以来新增 {fresh} 件），回退两次及以上 {totals['returned_twice']} 件，"
                  f"超时回退 {len(lists['late_returns'])} 件。"),
                  "调度表（PDF）列各单位数量及重点工单；各类工单的完整清单见数据表（XLSX）。"],
           attachments=[Attachment(pdf_name(title, label), pdf), Attachment(data_name, data)])
    ctx.summary.update(totals=totals, late_returns=len(lists["late_returns"]), fresh_overdue=fresh)


def within_text(span) -> str:
    """"3小时内" / "4天内": the smallest whole number of hours (up to 72) or days the span fits in."""
    hours = max(1, math.ceil(span.total_seconds() / 3600))
    return f"{hours}小时内" if hours <= 72 else f"{math.ceil(span.total_seconds() / 86400)}天内"


@job("law_push", period="day", family="reports")
def law_push(ctx: JobContext):
    """The law-enforcement push (``worker.law_push``): every ticket of the selected 事项编码 dispatched,
    replied or called back since the previous push (the previous working day at this time) in the
    XLSX, archived beside the PDF; the PDF the counts per unit and the most serious first."""
    s, since, config_dir = ctx.session, window_start(ctx), ctx.settings.config_dir
    rows = push_rows(s, since, ctx.as_of, unit_names(s), ctx.cal, config_dir)
    cfg = policy.metrics(config_dir)
    levels = [name for name, _ in sorted(cfg.tourism_triage.levels.items(), key=lambda kv: -kv[1])] \
        if cfg.tourism_triage else []
    limit = listed_tickets(config_dir)
    grades = list(cfg.grading.daily_sheet_levels)
    codes = sorted(cfg.law_enforcement_codes)
    title = "12345热线涉行政执法工单推送"
    label = ctx.report_period.label()
    span = f"{_moment_text(since)}至{_moment_text(ctx.as_of)}"
    new = sum(1 for r in rows if r["change"] == NEW)
    sheet = workbook([(title, LAW_PUSH_COLUMNS, law_push_rows(rows))])
    data_name = pdf_name(title, label).removesuffix(".pdf") + ".xlsx"
    groups = _recipients(ctx, ["justice_bureau"])
    units = unit_counts(rows)
    listed = serious_first(rows, levels, grades)[:limit]
    _doc, pdf = store(ctx, kind="law_push", scope=ctx.report_period.key, title=title, template="documents/law_push.html",
                      recipients=groups, companions={"xlsx": sheet}, listed=listed, total=len(rows),
                      units=units, totals=totals(units), data_name=data_name.removesuffix(".xlsx"), grades=grades,
                      clues=Counter(r["triage_level"] for r in rows if r["triage_level"]), levels=levels,
                      codes=codes, span=span, new=new)
    notify(ctx, kind="law_push", groups=groups,
           subject=f"【执法监督推送】{label}涉行政执法工单 {len(rows)} 件",
           lines=[(f"现将{span}（上次推送以来）新交办或办理状态有变化的涉行政执法工单 {len(rows)} 件推送给您"
                   f"（新交办 {new} 件，已答复或已回访 {len(rows) - new} 件），请查收附件："
                   + (f"PDF 列各单位数量及其中 {len(listed)} 件工单，" if len(listed) < len(rows) else "PDF 列各单位数量及全部工单，")
                   + "XLSX 为全部工单的数据表，可直接导入系统。")],
           attachments=[Attachment(pdf_name(title, label), pdf), Attachment(data_name, sheet)])
    ctx.summary["tickets"] = len(rows)


def _moment_text(at: datetime) -> str:
    return f"{at.year}年{at.month}月{at.day}日{at:%H:%M}"


def _typical_cases(s: Session, ctx: JobContext, names, n: int):
    """The period's best and worst handled tickets.  The period's rows are taken first (a
    materialised CTE over the callback index: left to itself the planner walks an index in finish
    order and throws away every earlier ticket of the whole history), ranked there, and only the
    first ``n`` places (ties included) are joined with their tickets, whose number breaks the ties:
    joining the week's every callback with its ticket first cost a quarter of a second at 2 M."""
    p = ctx.report_period
    A = view(s, p.end_at).A
    period = (select(A.ticket_id, A.unit_code, A.satisfaction, A.dispatched_at, A.finished_at, A.closed_at,
                     A.completion_due, A.resolved, A.redo_count)
              .where(A.callback_at >= p.start_at, A.callback_at < p.end_at, A.is_current.is_(True))
              .cte("period_callbacks").prefix_with("MATERIALIZED"))
    c = period.c

    def first_places(where, *order: tuple[str, bool]):
        """The rows of the first ``n`` places by ``order`` ((column, descending) pairs), with their tickets."""
        keys = lambda cols: [cols[name].desc() if descending else cols[name] for name, descending in order]
        r = select(period, func.rank().over(order_by=keys(c)).label("place")).where(where).subquery().c
        cols = (*(r[col.name] for col in c if col.name != "redo_count"), Ticket.number, Ticket.content,
                Ticket.caller_name, Ticket.caller_phone)
        return s.execute(select(*cols).join(Ticket, Ticket.id == r.ticket_id).where(r.place <= n)
                         .order_by(*keys(r), Ticket.number).limit(n)).all()

    good = first_places(and_(c.satisfaction == "satisfied", c.resolved.is_(True), c.finished_at <= c.completion_due,
                             c.redo_count == 0), ("finished_at", False))
    bad = first_places(or_(c.satisfaction == "unsatisfied", c.finished_at > c.completion_due),
                       ("redo_count", True), ("finished_at", True))
    positive = []
    for r in good:
        row = public_ticket(r._asdict(), names)
        # What happened, from the events: the reply the centre passed, and the closing if recorded.
        done = [f"交办后{within_text(r.finished_at - r.dispatched_at)}答复"]
        if r.closed_at is not None:
            done.append(f"{within_text(r.closed_at - r.dispatched_at)}办结")
        row["what_happened"] = "，".join(done)
        positive.append(row)
    negative = []
    for r in bad:
        row = public_ticket(r._asdict(), names)
        problems = []
        if r.finished_at and r.completion_due and r.finished_at > r.completion_due:
            problems.append("承办单位超期答复")
        if r.satisfaction == "unsatisfied":
            problems.append("来电人评价“不满意”")
        if r.resolved is False:
            problems.append("问题未解决")
        row["problem"] = "，".join(problems)
        negative.append(row)
    return positive, negative


def escalations_reported(s: Session, period, names: dict[str, str], at: datetime) -> list[dict]:
    """The ladder notices a document of PERIOD, speaking at ``at``, reports: those issued by then for
    the period, and for a period of the other kind that ended in it (a month's, evaluated on its
    first days, in the week's bulletin; the weeks' in the month's documents); each with whether it
    calls for public exposure (``public_exposure`` in config/escalation.yaml)."""
    from ..escalation import tier_label, tiers

    by_name = {t.name: t for t in tiers()}
    rows = s.scalars(select(Escalation).where(Escalation.state == EscalationState.ISSUED.value,
                                              Escalation.fired_at <= at)
                     .order_by(Escalation.unit_code, Escalation.id)).all()
    out = []
    for e in rows:
        p = parse_key(e.period_key)
        if e.period_key == period.key or (p.kind != period.kind and period.start_at < p.end_at <= period.end_at):
            tier = by_name.get(e.tier)   # None: a tier no longer in the file
            out.append({"unit_code": e.unit_code, "unit_name": names.get(e.unit_code, e.unit_code),
                        "tier_label": tier_label(tier) if tier else e.tier, "period": p.label(),
                        "streak": _streak_text(e), "fired_at": e.fired_at, "exposure": bool(tier and tier.public_exposure)})
    return out


@job("weekly_bulletin", period="week", family="reports")
def weekly_bulletin(ctx: JobContext):
    s, cfg = ctx.session, policy.metrics(ctx.settings.config_dir)
    result = compute(s, ctx.report_period, cfg=cfg)
    names = unit_names(s)
    moment = moment_of(ctx, "weekly_bulletin", ctx.report_period.key)
    escalations = escalations_reported(s, ctx.report_period, names, moment)
    positive, negative = _typical_cases(s, ctx, names, cfg.typical_cases)
    ladder_rows = ladder_table(s, moment, names)
    overdue_letters: dict[str, list] = {}
    for e in ledger(s, ctx.report_period.end_at):
        if e.state == "overdue":
            overdue_letters.setdefault(e.unit_code, []).append(e)
    overdue_rows = [{"unit_name": names.get(c, c), "count": len(es), "numbers": "、".join(e.number for e in es[:8])
                     + ("等" if len(es) > 8 else ""), "oldest": min(e.deadline for e in es)}
                    for c, es in sorted(overdue_letters.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    closeouts, answers_late = _closeouts(s, ctx.report_period, moment, names)
    title = "12345热线工作周通报"
    label = ctx.report_period.label()
    groups = _recipients(ctx, ["hotline_center", "unit_heads"])
    doc, pdf = store(ctx, kind="weekly_bulletin", scope=ctx.report_period.key, title=title, numbered=True,
                     recipients=groups, template="documents/weekly_bulletin.html", period_label=label, ranked=result.ranked,
                     unranked=[u for u in result.unranked if u.volume or u.dispatches],
                     requirement=result.requirement, failing=result.failing, escalations=escalations,
                     exposed=[e for e in escalations if e["exposure"]], ladder=ladder_rows,
                     overdue_letters=overdue_rows, closeouts=closeouts, answers_late=answers_late, moment=moment,
                     late_returns=[u for u in result.units if u.late_returns],
                     positive=positive, negative=negative, total_resolution=result.total("dual_resolution"),
                     total_satisfaction=result.total("dual_satisfaction"),
                     bottom_n=bottom_count(cfg, len(result.ranked)))
    bulletin = f"12345热线工作周通报第{doc.issue_no}期（{label}）"
    for audience, words in (("units", f"现将{bulletin}印发给你单位，请认真对照整改。"),
                            ("leaders", f"现将{bulletin}呈送您，请阅示。"),
                            ("others", f"现将{bulletin}发送给您，请存档并跟踪各单位整改。")):
        notify(ctx, kind="weekly_bulletin", groups=audiences(groups)[audience],
               subject=f"【周通报】{bulletin}", lines=[words],
               attachments=[Attachment(pdf_name(f"{title}第{doc.issue_no}期", label), pdf)])
    ctx.summary.update(failing=[u.unit_code for u in result.failing], issue_no=doc.issue_no)


def _closeouts(s: Session, period, moment, names) -> tuple[list[dict], list[dict]]:
    """The 督办 close-out as of the bulletin's moment (seed 004: 销号管理): the entries answered,
    accepted or returned since the week began, and per unit the answers overdue (the letter's
    deadline passed without 销号).  Steps after the moment are not there, re-rendered or not."""
    moved, late = closeout_report(ledger(s, moment), period)
    rows = []
    for e in sorted(moved, key=lambda e: (e.unit_code, e.number)):
        answered, last = e.last("answer"), e.steps[-1]
        rows.append({"unit_name": names.get(e.unit_code, e.unit_code), "number": e.number, "stage": e.stage,
                     "deadline": e.deadline, "answered_at": answered.at if answered else None,
                     "result": {"answer": "待审核销号", "accept": f"已销号（{last.at.month}月{last.at.day}日）",
                                "return": f"已退回（{last.at.month}月{last.at.day}日），待重新答复"}[last.action]})
    # 件 are tickets: a ticket overdue at two stages (答复 and 办结) is one, named once.
    tickets = {c: list(dict.fromkeys(e.number for e in es)) for c, es in late.items()}
    overdue = [{"unit_name": names.get(c, c), "count": len(tickets[c]), "oldest": min(e.deadline for e in es if e.deadline),
                "numbers": "、".join(tickets[c][:8]) + ("等" if len(tickets[c]) > 8 else "")}
               for c, es in sorted(late.items(), key=lambda kv: (-len(tickets[kv[0]]), kv[0]))]
    return rows, overdue


def _streak_text(e: Escalation) -> str:
    start = parse_key(e.run_started).start
    return f"自{start.month}月{start.day}日起"


@job("monthly_analysis", period="month", family="reports")
def monthly_analysis(ctx: JobContext):
    s, cfg = ctx.session, policy.metrics(ctx.settings.config_dir)
    months = trend(s, ctx.report_period, 6, cfg)
    result, previous, year_before = months[-1], months[-2], compute(s, ctx.report_period.year_before(), cfg=cfg)
    # DOMAIN.md "Partial periods": no comparison with a month whose data is incomplete (or none).
    first = data_start(s)
    cover = {m.period.key: data_coverage(s, m.period, first) for m in (*months, year_before)}
    now = cover[ctx.report_period.key]
    volumes = {m.period.key: period_volume(s, m.period) for m in (*months, year_before)}
    why_not = {then: incomparable(now, cover[m.period.key], volumes[m.period.key].tickets, then)
               for then, m in (("上月", previous), ("去年同期", year_before))}
    volume = volumes[ctx.report_period.key]
    changes = [_volume_change(volume.tickets, volumes[m.period.key].tickets, then)
               for then, m in (("上月", previous), ("去年同期", year_before)) if not why_not[then]]
    reasons = list(dict.fromkeys(r for r in why_not.values() if r))
    if reasons:
        changes.append("、".join(reasons) + ("，均不作比较" if len(reasons) > 1 else "，不作比较"))
    labels = [m.period.label()[5:] or m.period.label() for m in months]
    # The trend charts show the months with complete data only (a gap, not a dip or a zero).
    whole = [cover[m.period.key].complete and volumes[m.period.key].tickets > 0 for m in months]
    volume_chart = line_chart(labels, {"交办工单（件）": [volumes[m.period.key].tickets if ok else None
                                                    for m, ok in zip(months, whole, strict=True)]})
    rate_chart = line_chart(labels, {"满意率（%）": [m.total("dual_satisfaction").value if ok else None
                                                  for m, ok in zip(months, whole, strict=True)],
                                     "解决率（%）": [m.total("dual_resolution").value if ok else None
                                                  for m, ok in zip(months, whole, strict=True)]}, percent=True)
    left_out = [label for label, ok in zip(labels, whole, strict=True) if not ok]
    trend_note = (f"趋势图只列数据完整的月份，{'、'.join(left_out)}数据不完整或无数据，不列"
                  + (f"（系统数据自{first.year}年{first.month}月{first.day}日起）" if first else "") + "。") if left_out else ""
    comparison_note = "；".join(f"{r}，{'环比' if then == '上月' else '同比'}不作比较"
                               for then, r in why_not.items() if r)
    scored = result.ranked
    score_chart = bar_chart([u.unit_name.removeprefix("区") for u in scored], [u.score for u in scored])
    names = unit_names(s)
    letters = [{"unit_name": names.get(c, c), **counts}
               for c, counts in sorted(letter_counts(ledger(s, ctx.report_period.end_at), ctx.report_period).items())
               if any(counts.values())]
    moment = moment_of(ctx, "monthly_analysis", ctx.report_period.key)
    publicly_exposed = [e for e in escalations_reported(s, ctx.report_period, names, moment) if e["exposure"]]
    categories = dict(s.execute(select(Category.code, Category.name)).all())
    repeats = [dict(m, unit_name=names.get(m["unit_code"], m["unit_code"] or "—"),
                    matter=(f"来电人{mask_phone(m['caller_phone'])}反复来电" if m["kind"] == "caller" else
                            f"{mask_text(m['address'])}·{categories.get(m['category_code'], m['category_code'])}"))
               for m in repeat_ledger(s, ctx.report_period.end_at, cfg)]
    hot_previous = None if why_not["上月"] else ctx.report_period.previous()
    top = cfg.hot_categories
    title = "12345热线工作月度分析"
    label = ctx.report_period.label()
    groups = _recipients(ctx, ["hotline_center", "principal_leader"])
    _doc, pdf = store(ctx, kind="monthly_analysis", scope=ctx.report_period.key, title=title, numbered=True,
                     recipients=groups, template="documents/monthly_analysis.html", period_label=label, ranked=result.ranked,
                     unranked=[u for u in result.unranked if u.volume or u.dispatches],
                     publicly_exposed=publicly_exposed, letters=letters,
                     adjusted=[u for u in result.ranked + result.unranked if u.adjustments], repeats=repeats,
                     volume=volume, volume_change="，".join(changes), coverage_note=now.note(),
                     comparison=comparison(result, None if why_not["上月"] else previous,
                                           None if why_not["去年同期"] else year_before,
                                           {k: v.tickets for k, v in volumes.items()}),
                     comparison_note=comparison_note, trend_note=trend_note, hot_compared=hot_previous is not None,
                     satisfaction=result.total("dual_satisfaction"), resolution=result.total("dual_resolution"), overdue=result.total("overdue"), redo=result.total("redo"),
                     returns=result.total("returns"), hot=hot_categories(s, ctx.report_period, top, previous=hot_previous),
                     rising=hot_categories(s, ctx.report_period, top, by="growth", previous=hot_previous),
                     widespread=widespread(s, ctx.report_period, cfg)[:5], exposed=result.failing,
                     volume_chart=volume_chart, rate_chart=rate_chart, score_chart=score_chart)
    notify(ctx, kind="monthly_analysis", groups=groups,
           subject=f"【月分析】{label}12345热线工作分析", lines=[f"现将{label}12345热线工作分析报告发送给您。"],
           attachments=[Attachment(pdf_name(title, label), pdf)])
    ctx.summary.update(volume=volume.tickets, dispatches=volume.dispatches, exposed=[u.unit_code for u in result.failing])


@job("monthly_summary", period="month", family="reports")
def monthly_summary(ctx: JobContext):
    """月总结 (seed 004): the material of the month's 专题调度会议 — the month's figures, the ranking
    with the assessment scores, the bottom units whose heads make a statement (表态发言、整改承诺),
    the month's escalations and exposures.  To the centre and the leaders; each bottom unit's head
    is told that the unit speaks."""
    s, cfg = ctx.session, policy.metrics(ctx.settings.config_dir)
    result = compute(s, ctx.report_period, cfg=cfg)
    names = unit_names(s)
    speakers = [u for u in result.ranked if u.bottom]
    label = ctx.report_period.label()
    title = f"全区政务服务热线专题调度会议材料（{label}）"
    groups = _recipients(ctx, ["hotline_center", "principal_leader"])
    _doc, pdf = store(ctx, kind="monthly_summary", scope=ctx.report_period.key, title=title, numbered=True,
                      recipients=groups, template="documents/monthly_summary.html", period_label=label,
                      ranked=result.ranked, volume=period_volume(s, ctx.report_period),
                      coverage_note=data_coverage(s, ctx.report_period).note(), satisfaction=result.total("dual_satisfaction"),
                      resolution=result.total("dual_resolution"), overdue=result.total("overdue"),
                      requirement=result.requirement, speakers=speakers,
                      escalations=escalations_reported(s, ctx.report_period, names,
                                                       moment_of(ctx, "monthly_summary", ctx.report_period.key)),
                      adjusted=[u for u in result.ranked + result.unranked if u.adjustments])
    attachment = Attachment(pdf_name("专题调度会议材料", label), pdf)
    notify(ctx, kind="monthly_summary", groups=groups,
           subject=f"【月总结】{label}全区政务服务热线专题调度会议材料",
           lines=[f"现将{label}全区政务服务热线专题调度会议材料发送给您。"], attachments=[attachment])
    for u in speakers:
        notify(ctx, kind="monthly_summary_speaker", unit_code=u.unit_code, groups=["unit_head"],
               subject=f"【表态发言】{u.unit_name}{label}热线综合排名第{u.rank}名",
               lines=[(f"{u.unit_name}{label}12345热线综合排名第{u.rank}名（共{len(result.ranked)}个单位），"
                       "位列排名靠后单位。请你单位主要负责人在本月全区政务服务热线专题调度会议上作表态发言、"
                       "提出整改承诺，会议时间另行通知。")], attachments=[attachment])
    ctx.summary.update(speakers=[u.unit_code for u in speakers])


def _volume_change(now: int, before: int, then: str) -> str:
    """"较上月增加 50 件（+4.7%）": tickets against a period whose data is complete (``incomparable``)."""
    if now == before:
        return f"与{then}持平"
    return f"较{then}{'增加' if now > before else '减少'} {abs(now - before)} 件（{100 * (now - before) / before:+.1f}%）"


def _law_report(ctx: JobContext, kind: str, title: str):
    """The law-enforcement analysis for the justice bureau, on the same clocks as every document
    (volume by dispatch, 解决率/满意率 by callback time inside the period, 超期率 by due time), so
    a past report does not change as later callbacks arrive.  Its ABCD rating (seed 003) rates each
    unit on its own law-enforcement tickets (``rating`` in config/metrics.yaml); a unit without
    any in the period is not rated."""
    s, cfg = ctx.session, policy.metrics(ctx.settings.config_dir)
    p = ctx.report_period
    codes = law_codes(s)
    names = dict(s.execute(select(Category.code, Category.name)).all())
    categories = [dict(c, name=names.get(c["code"], c["code"])) for c in category_rates(s, p, codes)]
    categories.sort(key=lambda c: (-c["tickets"], c["code"]))
    volume = period_volume(s, p, codes)
    law = compute(s, p, cfg=cfg, categories=codes)
    rating = cfg.rating
    supervision = {"A": "减少监督", "B": "常规监督", "C": "加强监督", "D": "重点监督", "—": "无评价，不评级"}
    ratings: list[dict[str, Any]] = []
    for u in law.units:
        if not (u.dispatches or u.overdue.den or u.resolution.den or u.satisfaction.den):
            continue  # no law-enforcement ticket of this unit in the period: not rated
        value = score(u, rating.weights)
        grade = "—" if value is None else next((g for g in ("A", "B", "C") if value >= getattr(rating, g)), "D")
        ratings.append({"unit_name": u.unit_name, "volume": u.volume, "timeliness": u.timeliness,
                        "resolution": u.resolution, "satisfaction": u.satisfaction, "score": value, "grade": grade,
                        "supervision": supervision[grade]})
    ratings.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0), r["unit_name"]))
    units = unit_names(s)
    by_unit: list[dict[str, Any]] = [{"unit_name": units.get(code, code), "total": sum(n for _, n in pairs),
                "categories": [{"code": c, "name": names.get(c, c), "volume": n} for c, n in pairs]}
               for code, pairs in unit_category_volumes(s, p, codes).items()]
    by_unit.sort(key=lambda u: (-u["total"], u["unit_name"]))
    recurring_count = cfg.repeat.same_address_category.count
    recurring = [dict(r, name=names.get(r["category_code"], r["category_code"]),
                      unit_names=[units.get(u, u) for u in r["units"]], address=mask_text(r["address"]))
                 for r in recurring_problems(s, p, codes, recurring_count)]
    label = p.label()
    chart = bar_chart([c["name"] for c in categories[:12]], [c["tickets"] for c in categories[:12]], percent=False)
    groups = _recipients(ctx, ["justice_bureau", "hotline_center"])
    _doc, pdf = store(ctx, kind=kind, scope=p.key, title=title, recipients=groups, template="documents/law_report.html",
                      numbered=False, period_label=label, volume=volume, codes=sorted(codes),
                      coverage_note=data_coverage(s, p).note(),
                      satisfaction=law.total("satisfaction"), resolution=law.total("resolution"),
                      timeliness=law.total("timeliness"), categories=categories, ratings=ratings,
                      rating=rating, category_chart=chart,
                      by_unit=by_unit, recurring=recurring, recurring_count=recurring_count)
    notify(ctx, kind=kind, groups=groups,
           subject=f"【执法监督分析】{label}12345热线涉行政执法工单分析", lines=[f"现将{label}涉行政执法工单分析报告发送给您。"],
           attachments=[Attachment(pdf_name(title, label), pdf)])
    ctx.summary.update(tickets=volume.tickets, dispatches=volume.dispatches, ratings={r["unit_name"]: r["grade"] for r in ratings})


@job("monthly_law_report", period="month", family="reports")
def monthly_law_report(ctx: JobContext):
    _law_report(ctx, "monthly_law_report", "12345热线涉行政执法工单月度分析")


@job("quarterly_report", period="quarter", family="reports")
def quarterly_report(ctx: JobContext):
    _law_report(ctx, "quarterly_report", "12345热线涉行政执法工单季度分析")


@job("annual_report", period="year", family="reports", time_limit_minutes=30)
def annual_report(ctx: JobContext):
    _law_report(ctx, "annual_report", "12345热线涉行政执法工单年度分析")


actors = make_actors("daily_sheet", "law_push", "weekly_bulletin", "monthly_analysis", "monthly_summary",
                     "monthly_law_report", "quarterly_report", "annual_report")
