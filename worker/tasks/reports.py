"""Report actors: daily sheet, law-enforcement push, weekly bulletin, monthly analysis,
quarterly and annual law-enforcement reports (日调度、执法推送、周通报、月分析、季度/年度分析)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, func, or_, select

from ..assignments import SATISFIED, law_codes
from ..calendar import UnknownYearError
from ..config import policy
from ..detection import (
    counts_by_unit,
    fell_due_between,
    grade,
    law_enforcement,
    overdue_open,
    previous_workday_same_time,
    returned_twice,
    warning_horizon,
    warnings,
    widespread,
)
from ..documents import pdf_name, store, unit_names
from ..jobs import job
from ..mail import Attachment
from ..metrics import COUNTED, Rate, bottom_count, comparison, compute, hot_categories, trend
from ..models import Assignment as A
from ..models import Category, Escalation, Ticket
from ..notify import notify
from ..periods import parse_key
from ..rendering import bar_chart, line_chart, public_ticket
from .base import make_actors


def _recipients(ctx, default: list[str]) -> list[str]:
    return list(ctx.params.get("recipients") or default)


def _calendar_warnings(ctx) -> list[str]:
    """Coverage of the next 60 days; the daily sheet prints any gap."""
    out = []
    for year in sorted({(ctx.as_of + timedelta(days=d)).year for d in (0, 60)}):
        if not ctx.cal.knows(year):
            out.append(f"工作日历缺少{year}年的节假日安排，涉及{year}年的时限暂无法计算。请按国务院办公厅{year}年"
                       f"部分节假日安排的通知，在 {ctx.cal.calendar_file.name} 中补充 years: {year}。")
    return out


def _window_start(ctx):
    try:
        return previous_workday_same_time(ctx.cal, ctx.as_of)
    except UnknownYearError:
        return ctx.as_of - timedelta(days=1)


@job("daily_sheet", period="day", family="reports")
def daily_sheet(ctx):
    s, as_of = ctx.session, ctx.as_of
    cal_warnings = _calendar_warnings(ctx)
    try:
        horizon = warning_horizon(ctx.cal, as_of)
    except UnknownYearError as exc:
        cal_warnings.append(f"预警时限无法按工作日计算（{exc.year}年工作日历缺失）。")
        horizon = as_of + timedelta(days=1)
    since = _window_start(ctx)
    # Grade (敏感/重大/一般, A/B/C) the tickets of the repeat window, so repeats seen today count.
    repeat = policy("metrics").get("repeat") or {}
    window = max([int(r.get("days", 30)) for r in repeat.values()] or [30])
    ctx.summary["graded"] = grade(s, as_of - timedelta(days=window), as_of)
    names = unit_names(s)
    counts = counts_by_unit(s, as_of, since, horizon)
    keys = ("new", "open", "warning", "overdue", "returned_twice")
    unit_rows = sorted(({"code": c, "name": names.get(c, c), **v} for c, v in counts.items() if any(v.values())),
                       key=lambda r: (-r["overdue"], -r["warning"], r["code"]))
    totals = {k: sum(r[k] for r in unit_rows) for k in keys}
    twice = []
    for t in returned_twice(s, as_of):
        if t["queued_at"] < since:
            continue  # listed on an earlier sheet; the table above still counts the open ones
        row = public_ticket(t, names)
        row["chain"] = [dict(c, unit_name=names.get(c["unit"], c["unit"])) for c in t["chain"]]
        row["fallback_name"] = names.get(t["fallback_unit_code"], t["fallback_unit_code"])
        twice.append(row)
    title = "12345热线工单日调度"
    _doc, pdf = store(ctx, kind="daily_sheet", scope=ctx.period.key, title=title, template="documents/daily_sheet.html",
                     as_of=as_of, calendar_warnings=cal_warnings, unit_rows=unit_rows, totals=totals,
                     overdue=[public_ticket(t, names) for t in overdue_open(s, as_of, fell_due_between(since, as_of))],
                     warnings=[public_ticket(t, names) for t in warnings(s, as_of, horizon)], returned_twice=twice)
    label = ctx.period.label()
    notify(ctx, kind="daily_sheet", groups=_recipients(ctx, ["hotline_center"]),
           subject=f"【日调度】{label}12345热线工单调度情况",
           lines=[(f"现将{label}12345热线工单调度情况发送给您：在办 {totals['open']} 件，预警 {totals['warning']} 件，"
                  f"超期 {totals['overdue']} 件，回退两次及以上 {totals['returned_twice']} 件。")] + cal_warnings,
           attachments=[Attachment(pdf_name(title, label), pdf)])
    ctx.summary.update(totals=totals, calendar_warnings=cal_warnings)


@job("law_push", period="day", family="reports")
def law_push(ctx):
    s = ctx.session
    names = unit_names(s)
    categories = dict(s.execute(select(Category.code, Category.name)).all())
    rows = []
    for t in law_enforcement(s, _window_start(ctx), ctx.as_of):
        row = public_ticket(t, names)
        row["category_name"] = categories.get(t["category_code"], t["category_code"])
        finished = t["finished_at"] is not None and t["finished_at"] <= ctx.as_of
        row["status"] = "已答复" if finished else ("已超期" if t["completion_due"] < ctx.as_of else "办理中")
        if t["callback_at"] is None or t["callback_at"] > ctx.as_of:
            row["satisfaction"], row["resolved"] = None, None
        rows.append(row)
    codes = sorted(policy("metrics").get("law_enforcement_codes") or [])
    title = "12345热线涉行政执法工单推送"
    label = ctx.period.label()
    _doc, pdf = store(ctx, kind="law_push", scope=ctx.period.key, title=title, template="documents/law_push.html",
                     rows=rows, codes=codes, period_label=label)
    notify(ctx, kind="law_push", groups=_recipients(ctx, ["justice_bureau"]),
           subject=f"【执法监督推送】{label}涉行政执法工单 {len(rows)} 件",
           lines=[f"现将{label}12345热线受理的涉行政执法工单 {len(rows)} 件推送给您，请查收附件。"],
           attachments=[Attachment(pdf_name(title, label), pdf)])
    ctx.summary["tickets"] = len(rows)


def _typical_cases(s, ctx, names, n: int):
    p = ctx.period
    in_period = and_(A.callback_at >= p.start_at, A.callback_at < p.end_at, A.is_current.is_(True))
    cols = (A.ticket_id, A.unit_code, A.satisfaction, A.dispatched_at, A.finished_at, A.completion_due, A.resolved,
            Ticket.number, Ticket.content, Ticket.caller_name, Ticket.caller_phone)
    good = s.execute(select(*cols).join(Ticket, Ticket.id == A.ticket_id).where(
        in_period, A.satisfaction == "satisfied", A.resolved.is_(True), A.finished_at <= A.completion_due,
        A.redo_count == 0).order_by(A.finished_at, Ticket.number)
        .limit(n)).all()
    bad = s.execute(select(*cols).join(Ticket, Ticket.id == A.ticket_id).where(
        in_period, or_(A.satisfaction == "unsatisfied", A.finished_at > A.completion_due))
        .order_by(A.redo_count.desc(), A.finished_at.desc(), Ticket.number).limit(n)).all()
    positive = []
    for r in good:
        row = public_ticket(r._asdict(), names)
        row["hours"] = max(1, int((r.finished_at - r.dispatched_at).total_seconds() // 3600))
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


@job("weekly_bulletin", period="week", family="reports")
def weekly_bulletin(ctx):
    from ..escalation import tier_label, tiers

    s, cfg = ctx.session, policy("metrics")
    result = compute(s, ctx.period, cfg=cfg)
    names = unit_names(s)
    labels = {t["name"]: tier_label(t) for t in tiers()}
    fired = s.scalars(select(Escalation).where(Escalation.period_key == ctx.period.key)
                      .order_by(Escalation.unit_code, Escalation.id)).all()
    escalations = [{"unit_name": names.get(e.unit_code, e.unit_code), "tier_label": labels.get(e.tier, e.tier),
                    "period": parse_key(e.period_key).label(), "streak": _streak_text(e)} for e in fired]
    positive, negative = _typical_cases(s, ctx, names, int(cfg.get("typical_cases", 3)))
    title = "12345热线工作周通报"
    label = ctx.period.label()
    doc, pdf = store(ctx, kind="weekly_bulletin", scope=ctx.period.key, title=title, numbered=True,
                     template="documents/weekly_bulletin.html", period_label=label, units=result.units,
                     requirement=result.requirement, failing=result.failing, escalations=escalations,
                     positive=positive, negative=negative, total_resolution=result.total("resolution"),
                     total_satisfaction=result.total("satisfaction"),
                     bottom_n=bottom_count(cfg, len([u for u in result.units if u.score is not None])),
                     no_callbacks=[u.unit_name for u in result.units if u.no_callbacks])
    notify(ctx, kind="weekly_bulletin", groups=_recipients(ctx, ["hotline_center", "unit_heads"]),
           subject=f"【周通报】12345热线工作周通报第{doc.issue_no}期（{label}）",
           lines=[f"现将12345热线工作周通报第{doc.issue_no}期（{label}）印发给您，请认真对照整改。"],
           attachments=[Attachment(pdf_name(f"{title}第{doc.issue_no}期", label), pdf)])
    ctx.summary.update(failing=[u.unit_code for u in result.failing], issue_no=doc.issue_no)


def _streak_text(e: Escalation) -> str:
    start = parse_key(e.run_started).start
    return f"自{start.month}月{start.day}日起"


@job("monthly_analysis", period="month", family="reports")
def monthly_analysis(ctx):
    s, cfg = ctx.session, policy("metrics")
    months = trend(s, ctx.period, 6, cfg)
    result, year_before = months[-1], compute(s, ctx.period.year_before(), cfg=cfg)
    volume = result.volume
    labels = [m.period.label()[5:] or m.period.label() for m in months]
    volume_chart = line_chart(labels, {"受理量（件）": [sum(u.volume for u in m.units) for m in months]})
    rate_chart = line_chart(labels, {"满意率（%）": [m.total("satisfaction").value for m in months],
                                     "解决率（%）": [m.total("resolution").value for m in months]}, percent=True)
    scored = [u for u in result.units if u.score is not None]
    score_chart = bar_chart([u.unit_name.removeprefix("区") for u in scored], [u.score for u in scored])
    title = "12345热线工作月度分析"
    label = ctx.period.label()
    _doc, pdf = store(ctx, kind="monthly_analysis", scope=ctx.period.key, title=title, numbered=True,
                     template="documents/monthly_analysis.html", period_label=label, units=result.units,
                     volume=volume, volume_change=_volume_change(volume, months[-2].volume, "上月"),
                     volume_change_year=_volume_change(volume, year_before.volume, "去年同期"),
                     comparison=comparison(result, months[-2], year_before), satisfaction=result.total("satisfaction"),
                     resolution=result.total("resolution"), overdue=result.total("overdue"), redo=result.total("redo"),
                     returns=result.total("returns"), hot=hot_categories(s, ctx.period, int(cfg.get("hot_categories", 5))),
                     rising=hot_categories(s, ctx.period, int(cfg.get("hot_categories", 5)), by="growth"),
                     widespread=widespread(s, ctx.period, cfg)[:5], exposed=result.failing,
                     volume_chart=volume_chart, rate_chart=rate_chart, score_chart=score_chart)
    notify(ctx, kind="monthly_analysis", groups=_recipients(ctx, ["hotline_center", "principal_leader"]),
           subject=f"【月分析】{label}12345热线工作分析", lines=[f"现将{label}12345热线工作分析报告发送给您。"],
           attachments=[Attachment(pdf_name(title, label), pdf)])
    ctx.summary.update(volume=volume, exposed=[u.unit_code for u in result.failing])


def _volume_change(volume: int, before: int, then: str) -> str:
    """"较上月增加 50 件（+4.7%）"; no volume then means no data then (before the service ran)."""
    if before == 0:
        return f"{then}无可比数据"
    if volume == before:
        return f"与{then}持平"
    return f"较{then}{'增加' if volume > before else '减少'} {abs(volume - before)} 件（{100 * (volume - before) / before:+.1f}%）"


def _law_report(ctx, kind: str, title: str):
    s, cfg = ctx.session, policy("metrics")
    p = ctx.period
    codes = law_codes(s)
    names = dict(s.execute(select(Category.code, Category.name)).all())
    in_period = and_(A.dispatched_at >= p.start_at, A.dispatched_at < p.end_at)
    sat = func.sum(case((A.satisfaction.in_(SATISFIED), 1), else_=0))
    evaluated = func.sum(case((A.satisfaction.is_not(None), 1), else_=0))
    solved = func.sum(case((A.resolved.is_(True), 1), else_=0))
    judged = func.sum(case((A.resolved.is_not(None), 1), else_=0))
    base = select(func.count(), sat, evaluated, solved, judged).where(
        A.law_enforcement.is_(True), A.is_current.is_(True), in_period, COUNTED)
    by_category = base.with_only_columns(A.category_code, func.count(), sat, evaluated, solved, judged)
    categories = [{"code": c, "name": names.get(c, c), "volume": n, "satisfaction": Rate(int(a or 0), int(b or 0)),
                   "resolution": Rate(int(x or 0), int(y or 0))}
                  for c, n, a, b, x, y in s.execute(by_category.group_by(A.category_code)).all()]
    categories.sort(key=lambda c: (-c["volume"], c["code"]))
    n, a, b, x, y = s.execute(base).one()
    law_volume = dict(s.execute(select(A.unit_code, func.count()).where(
        A.law_enforcement.is_(True), A.is_current.is_(True), in_period, COUNTED).group_by(A.unit_code)).all())
    result = compute(s, p, cfg=cfg)
    rating = cfg.get("rating") or {"A": 0.95, "B": 0.9, "C": 0.8}
    supervision = {"A": "减少监督", "B": "常规监督", "C": "加强监督", "D": "重点监督", "—": "无评价，不评级"}
    ratings = []
    for u in result.units:
        grade = "—" if u.score is None else next((g for g in ("A", "B", "C") if u.score >= rating[g]), "D")
        ratings.append({"unit_name": u.unit_name, "score": u.score, "grade": grade, "supervision": supervision[grade],
                        "law_volume": law_volume.get(u.unit_code, 0)})
    label = p.label()
    chart = bar_chart([c["name"] for c in categories[:12]], [c["volume"] for c in categories[:12]], percent=False)
    _doc, pdf = store(ctx, kind=kind, scope=p.key, title=title, template="documents/law_report.html", numbered=False,
                     period_label=label, total=n, codes=sorted(codes), satisfaction=Rate(int(a or 0), int(b or 0)),
                     resolution=Rate(int(x or 0), int(y or 0)), categories=categories, ratings=ratings,
                     rating=rating, category_chart=chart)
    notify(ctx, kind=kind, groups=_recipients(ctx, ["justice_bureau", "hotline_center"]),
           subject=f"【执法监督分析】{label}12345热线涉行政执法工单分析", lines=[f"现将{label}涉行政执法工单分析报告发送给您。"],
           attachments=[Attachment(pdf_name(title, label), pdf)])
    ctx.summary.update(tickets=n, ratings={r["unit_name"]: r["grade"] for r in ratings})


@job("quarterly_report", period="quarter", family="reports")
def quarterly_report(ctx):
    _law_report(ctx, "quarterly_report", "12345热线涉行政执法工单季度分析")


@job("annual_report", period="year", family="reports", time_limit_minutes=30)
def annual_report(ctx):
    _law_report(ctx, "annual_report", "12345热线涉行政执法工单年度分析")


actors = make_actors("daily_sheet", "law_push", "weekly_bulletin", "monthly_analysis", "quarterly_report",
                     "annual_report")
