"""Commands that read the policy: ``calendar check``, ``deadline``, ``recompute``, ``metrics``,
``schedules validate`` and ``schedules next``."""
from __future__ import annotations

import json
import sys
from datetime import date

import click

from ..config import ConfigError
from ..terminal import pad, table
from .common import (
    PolicyChoice,
    at_moment,
    channels,
    fail,
    load_schedules,
    policy_calendar,
    policy_rules,
    urgent_kinds,
)


@click.group()
def calendar():
    """The working-day calendar."""


@calendar.command("check")
@click.option("--calendar", "calendar_file", type=click.Path(dir_okay=False))
@click.option("--today", help="check as of this date (default: today)")
def calendar_check(calendar_file, today):
    """Print the years covered and warn, from November on, when next year is missing."""
    cal = policy_calendar(calendar_file)
    today_d = date.fromisoformat(today) if today else date.today()
    cov = cal.coverage()
    click.echo(f"calendar: {len(cov)} years covered, {cov[0].year}–{cov[-1].year}")
    for c in cov[-3:]:
        click.echo(f"  {c.year}: {c.source}")
    problems = []
    if not cal.knows(today_d.year):
        problems.append(f"this year ({today_d.year}) is not covered")
    if today_d.month >= 11 and not cal.knows(today_d.year + 1):
        problems.append(f"next year ({today_d.year + 1}) is not covered yet")
    for p in problems:
        click.echo(f"warning: {p}: add the State Council's holiday notice under 'years:' in {cal.calendar_file}")
    sys.exit(1 if problems else 0)


@click.command()
@click.option("--at", "at", required=True, help="dispatch time, e.g. '2025-04-30 10:00'")
@click.option("--source", required=True, type=PolicyChoice(channels),
              help="the source channel (诉求渠道; channels: in config/rules.yaml)")
@click.option("--urgent", type=PolicyChoice(urgent_kinds), help="the urgent kind (urgent_kinds: in config/rules.yaml)")
@click.option("--extension", default=0, help="working days of extension granted")
@click.option("--plan-date", help="plan date (列入计划)")
@click.option("--calendar", "calendar_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def deadline(at, source, urgent, extension, plan_date, calendar_file, as_json):
    """Print the due times for a ticket dispatched at AT."""
    from ..calendar import UnknownYearError
    from ..rules import deadlines_for
    from ..times import iso

    cal, rules = policy_calendar(calendar_file), policy_rules()
    if extension > rules.extension_max_working_days:
        click.echo(f"note: --extension {extension}: the policy allows at most {rules.extension_max_working_days} "
                   f"working days of extension in all (extension.max_working_days in config/rules.yaml); "
                   f"{rules.extension_max_working_days} used", err=True)
    if extension < 0:
        fail(f"--extension {extension}: an extension cannot be negative", 2)
    try:
        due = deadlines_for(cal, rules, at_moment(at), source, urgent, extension,
                            date.fromisoformat(plan_date) if plan_date else None)
    except UnknownYearError as exc:
        fail(str(exc), 2)
    except ConfigError as exc:
        fail(str(exc), 2)
    out = {k: iso(v) for k, v in due.items()}
    if as_json:
        click.echo(json.dumps(out))
    else:
        labels = {"reply_due": "reply due (答复时限)", "completion_due": "completion due (办结时限)",
                  "return_until": "return window ends (回退时限)"}
        for k, v in out.items():
            click.echo(f"{pad(labels[k], 32)} {v or '—'}")


@click.command()
def recompute():
    """Rebuild every assignment's due times (after a change of calendar.yaml or rules.yaml)."""
    from ..calendar import UnknownYearError
    from ..db import init_db
    from ..tasks.maintenance import recompute_deadlines

    init_db()
    try:
        n = recompute_deadlines()
    except UnknownYearError as exc:
        fail(str(exc), 2)
    click.echo(f"{n} assignments recomputed")


@click.command()
@click.option("--period", type=click.Choice(["week", "month", "quarter", "year", "day"]), default="week")
@click.option("--at", "at", help="a moment inside the period (default: now)")
@click.option("--json", "as_json", is_flag=True)
def metrics(period, at, as_json):
    """Print every unit's metrics for the period containing AT."""
    from ..db import session_scope
    from ..metrics import compute
    from ..periods import containing

    with session_scope() as s:
        result = compute(s, containing(period, at_moment(at)))
    if as_json:
        click.echo(json.dumps([u.as_dict() for u in result.units], ensure_ascii=False, indent=1))
        return
    click.echo(f"{result.period.key} {result.period.label()}")
    rows: list[tuple[object, ...]] = [("rank", "unit", "volume", "响应率", "解决率", "满意率", "超期率", " flag")]
    rows += [(u.rank or "-", u.unit_name, u.volume, u.response, u.resolution, u.satisfaction, u.overdue,
              " " + ("FAILING" if u.failing else ("bottom" if u.bottom else ""))) for u in result.units]
    for line in table(rows, "><>>>>><", minimum=(4, 16, 6, 16, 16, 16, 16)):
        click.echo(line)


@click.group()
def schedules():
    """schedules.yaml: validate and preview."""


@schedules.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def schedules_validate(file):
    """Report every problem of FILE (default: schedules.yaml) with its line."""
    cfg = load_schedules(file)
    click.echo(f"{cfg.path}: {len(cfg.schedules)} schedules, valid")


@schedules.command("next")
@click.option("--count", default=3, show_default=True)
@click.option("--from", "start", help="preview from this moment (default: now)")
@click.option("--file", "file", type=click.Path(dir_okay=False))
def schedules_next(count, start, file):
    """Preview the coming fire times of each schedule, each with the period it will report, holiday
    moves noted; a gap in the working-day calendar is named once."""
    from datetime import timedelta

    from .. import tasks  # noqa: F401 — each job's period (JOBS)
    from ..jobs import JOBS, resolve_period
    from ..schedules import slots

    cfg = load_schedules(file)
    cal = policy_calendar()
    begin = at_moment(start)
    gaps = set()
    for sched in cfg.schedules:
        if not sched.enabled:
            click.echo(f"{sched.name} ({sched.actor}): disabled")
            continue
        click.echo(f"{sched.name} ({sched.actor}, {sched.cron}, days: {sched.days})")
        kind = JOBS[sched.actor].period_kind
        shown, cursor, horizon = 0, begin, begin + timedelta(days=400)
        while shown < count and cursor < horizon:
            batch = slots(sched, cfg.timezone, cal, cursor, min(cursor + timedelta(days=31), horizon))
            for slot in batch:
                if slot.effective_at is None and "calendar has no data for" in slot.note:
                    gaps.add(slot.nominal_at.year)
                    click.echo(f"  from {slot.nominal_at:%Y-%m-%d} on: unknown (no working-day calendar for "
                               f"{slot.nominal_at.year})")
                    shown = count
                    break
                if slot.effective_at is None:
                    if not slot.note.startswith("not the first"):
                        click.echo(f"  {slot.nominal_at:%Y-%m-%d %a %H:%M}  {slot.note}")
                    continue
                anchor = slot.nominal_at if kind not in ("day", "none") else slot.effective_at
                period, _ = resolve_period(kind, anchor, sched.period)
                reports = f"  reports {period.label()}" if period and kind != "day" else ""
                if slot.effective_at != slot.nominal_at:
                    click.echo(f"  {slot.nominal_at:%Y-%m-%d %a %H:%M}  → {slot.effective_at:%Y-%m-%d %a %H:%M} "
                               f"({slot.note}){reports}")
                else:
                    click.echo(f"  {slot.effective_at:%Y-%m-%d %a %H:%M}{reports}")
                shown += 1
                if shown >= count:
                    break
            cursor = batch[-1].nominal_at if batch else min(cursor + timedelta(days=31), horizon)
    for year in sorted(gaps):
        click.echo(f"note: the working-day calendar has no data for {year}: add the State Council's holiday notice "
                   f"under 'years: {year}:' in {cal.calendar_file}, then run hotline recompute")


COMMANDS = [calendar, deadline, recompute, metrics, schedules]
