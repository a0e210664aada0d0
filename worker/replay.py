"""Replaying the schedules over a past span, in one transaction, on a simulated clock.

Used by ``hotline demo`` (a fresh database, committed) and ``hotline replay`` (the real data:
rolled back at the end unless ``--send``, so a preview leaves the database as it was).  Slots
fire in time order exactly as the scheduler would place them (working days, holiday moves);
the periodic outbox and inbox schedules are left out — the messages a replay produces are
written as ``.eml`` files (or delivered with ``--send``) at the end.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import runs, tasks  # noqa: F401 — tasks: the jobs a replay runs (JOBS)
from .calendar import load_calendar
from .config import Settings
from .delivery import last_message, own_messages
from .jobs import JOBS, resolve_period, run_with_parts
from .models import Escalation, EscalationState, RunState
from .schedules import ScheduleFile, slots
from .terminal import pad, width

PERIODIC = {"send_outbox", "process_inbox", "recompute"}


@dataclass
class ReplayReport:
    runs: Counter = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    skipped: list[tuple[str, datetime, str]] = field(default_factory=list)   # (schedule, slot, why)
    documents: list[str] = field(default_factory=list)
    escalations: Counter = field(default_factory=Counter)
    messages: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)   # the runs of this replay
    first_message: int = 0                             # the outbox's last id before it


def plan(config: ScheduleFile, start: datetime, end: datetime):
    cal = load_calendar()
    all_slots = []
    for sched in config.schedules:
        if sched.enabled and sched.actor not in PERIODIC:
            all_slots += slots(sched, config.timezone, cal, start, end)
    return sorted(all_slots, key=lambda s: ((s.effective_at or s.nominal_at), s.schedule.name))


def replay(session: Session, config: ScheduleFile, start: datetime, end: datetime, settings: Settings, *,
           prefix: str = "", progress=None, sender: tuple[str, str] = ("", "")) -> ReplayReport:
    """Run every slot in (start, end] inside ``session``; the caller commits or rolls back.  The report
    counts only what this replay produced (not what the database held before it)."""
    report = ReplayReport()
    first_escalation = session.scalar(select(func.max(Escalation.id))) or 0
    report.first_message = last_message(session)
    for slot in plan(config, start, end):
        if progress:
            progress(1)
        if slot.effective_at is None:
            if not slot.note.startswith("not the first"):
                report.skipped.append((slot.schedule.name, slot.nominal_at, slot.note.removeprefix("skipped: ")))
            continue
        spec = JOBS[slot.schedule.actor]
        anchor = slot.nominal_at if spec.period_kind not in ("day", "none") else slot.effective_at
        period, as_of = resolve_period(spec.period_kind, anchor, slot.schedule.period)
        params = dict(slot.schedule.params, as_of=as_of.isoformat(sep=" "), fired_at=slot.effective_at.isoformat(sep=" "))
        if slot.schedule.recipients:
            params["recipients"] = slot.schedule.recipients
        run, _ = runs.get_or_create(session, schedule=prefix + slot.schedule.name, nominal_at=slot.nominal_at,
                                    job=slot.schedule.actor, period_key=period.key if period else "-", params=params)
        report.run_ids.append(run.id)
        try:
            with session.begin_nested():
                done = run_with_parts(session, run, settings)
            for r, summary, took in done:   # the run, then its parts (supervision's letters)
                report.seconds[r.job] += took
                report.runs[r.job] += 1
                # Started at the simulated moment, lasting as long as it really took (the runs page).
                r.state, r.summary, r.started_at = RunState.SUCCEEDED.value, summary, as_of
                r.finished_at = as_of + timedelta(seconds=took)
                report.documents += [d["path"] for d in summary.get("documents", [])]
            report.run_ids += [r.id for r, _, _ in done[1:]]
        except Exception as exc:  # noqa: BLE001 — one failing slot does not hide the others
            run.state, run.error = RunState.FAILED.value, f"{type(exc).__name__}: {exc}"
            report.failures.append(f"{slot.schedule.name} {slot.nominal_at:%Y-%m-%d %H:%M}: {exc}")
        session.flush()
    for e in session.scalars(select(Escalation).where(Escalation.id > first_escalation,
                                                      Escalation.state == EscalationState.ISSUED.value)):
        report.escalations[e.tier] += 1
    for m in session.scalars(own_messages(report.run_ids, report.first_message)):
        report.messages[m.recipient_role] += 1
    return report


def print_report(report: ReplayReport, elapsed: float | None = None) -> None:
    """What a replay did: runs by job, escalations by tier, messages by role, the slots skipped."""
    import click

    from .escalation import tier_label, tiers

    click.echo("runs by job:")
    for job, n in sorted(report.runs.items()):
        click.echo(f"  {job:<20} {n:>4}  ({report.seconds.get(job, 0):.0f} s)")
    click.echo("escalations by tier:")
    labels = {t.name: tier_label(t) for t in tiers()}
    columns = max(map(width, labels.values()), default=0) + 2
    for t in tiers():
        click.echo(f"  {pad(labels[t.name], columns)}{report.escalations.get(t.name, 0):>4}")
    click.echo("messages by recipient role:")
    for role, n in sorted(report.messages.items()):
        click.echo(f"  {role:<20} {n}")
    if report.skipped:
        click.echo(f"slots skipped by the calendar ({len(report.skipped)}):")
        by_reason: dict[str, Counter] = {}
        for name, _at, why in report.skipped:
            by_reason.setdefault(why, Counter())[name] += 1
        for why, names in by_reason.items():
            click.echo(f"  {why} ({names.total()}): " + ", ".join(f"{name} {n}" for name, n in sorted(names.items())))
    for f in report.failures:
        click.echo(f"  FAILED: {f}", err=True)
    if elapsed is not None:
        click.echo(f"done in {elapsed:.0f} s")
