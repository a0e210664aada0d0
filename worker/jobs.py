"""Jobs: what a schedule or ``hotline run`` starts, executed under the run ledger.

A job is a plain function ``fn(ctx) -> summary`` registered with ``@job``; ``worker.tasks``
wraps each in a Dramatiq actor taking only the run id.  ``execute`` is the one path both the
actor and ``--inline`` take: claim the run, keep its heartbeat while the job works, record the
outcome.  Jobs write their results (documents, outbox rows, escalations) in the context's one
session, committed at the end: a job that fails leaves nothing half-written.

A job whose work splits into independent pieces (supervision's letters, one per unit) decides in
its own run and leaves each piece to a run of its own, a *part* (``spawn_part``): created in the
ledger in the run's transaction, so a part exists exactly when the decision it carries was
committed, and started once the run has committed — sent over the broker to whichever worker
process is free, or executed here after the run when there is no broker.  Each part is claimed,
fenced, retried, swept and alerted like any run.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import runs
from .calendar import UnknownYearError, WorkCalendar, load_calendar
from .config import Settings, load_settings
from .db import session_factory
from .job_names import JOB_NAMES, PARTS
from .models import Run, RunState
from .periods import Period, containing, parse_key
from .rules import Rules, load_rules
from .times import now_local

log = logging.getLogger("hotline.jobs")


@dataclass
class JobSpec:
    name: str
    fn: Callable[[JobContext], dict[str, Any] | None]
    period_kind: str          # day | week | month | quarter | year | none
    family: str
    time_limit: timedelta = timedelta(minutes=10)
    part_of: str | None = None   # the job whose runs start this one's (``PARTS``)


JOBS: dict[str, JobSpec] = {}


def job(name: str, period: str, family: str, time_limit_minutes: int = 10):
    if name not in JOB_NAMES:
        raise ValueError(f"job {name!r} is not named in worker/job_names.py (schedules.yaml is checked against it)")

    def register(fn):
        JOBS[name] = JobSpec(name, fn, period, family, timedelta(minutes=time_limit_minutes), PARTS.get(name))
        return fn
    return register


@dataclass
class JobContext:
    run: Run
    session: Session
    settings: Settings
    cal: WorkCalendar
    rules: Rules
    period: Period | None
    as_of: datetime
    params: dict[str, Any]
    dry_run: bool = False
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def moment(self) -> datetime:
        """When the run speaks: a daily job of its moment (``as_of``); a periodic job when the run
        fires (the slot's time, or the moment a person started it).  Never the clock at render
        time, so a replay speaks as it would have; a document rendered again speaks as of the
        moment it was first issued (``documents.moment_of``)."""
        fired = self.params.get("fired_at")
        return self.as_of if self.period is None or self.period.kind == "day" or not fired \
            else datetime.fromisoformat(fired)

    @property
    def speaks_for(self) -> str:
        """The job whose messages the run sends (``notify`` deduplicates by it): its own, or for a
        part the job of the run that started it — a letter is supervision's whichever run renders it."""
        return PARTS.get(self.run.job, self.run.job)

    @property
    def report_period(self) -> Period:
        """The period a job registered with one (every kind but ``none``) reports on."""
        if self.period is None:
            raise ValueError(f"job {self.run.job} ran without a period (run {self.run.id})")
        return self.period

    @property
    def issue_date(self) -> date:
        """The date a new document carries: the working day of ``moment``, moved to the next working
        day when that is not one; a re-render keeps the date first given (``documents.store``)."""
        day = self.moment.date()
        try:
            return day if self.cal.is_workday(day) else self.cal.next_workday(day)
        except UnknownYearError:
            return day


def resolve_period(kind: str, at: datetime, rule: str | None) -> tuple[Period | None, datetime]:
    """(period, as_of) for a job of this kind fired at ``at``.

    ``previous`` (the schedules' default for week/month/quarter/year) is the last complete period
    before ``at``; ``current`` is the period containing ``at``."""
    if kind == "none":
        return None, at
    if kind == "day":
        return containing("day", at), at
    current = containing(kind, at)
    if (rule or "previous") == "previous":
        period = current.previous()
        return period, period.end_at
    return current, min(at, current.end_at)


def execute(run_id: int, *, dry_run: bool = False, database_url: str | None = None,
            send: Callable[[str, int], str | None] | None = None) -> str:
    """Run a ledger entry to its end; returns the final state ('skipped' if someone else holds it,
    'superseded' if another attempt took it over meanwhile: this one's work is rolled back).

    The run's parts (``spawn_part``) are started once it has committed: each ``send(job, run_id)``
    to the broker (a worker's actor), or executed here one after the other (``send`` None: ``--inline``)."""
    settings = load_settings()   # read once where the run starts (the actor, ``--inline``)
    factory = session_factory(database_url)
    with factory() as s:
        attempt = runs.claim(s, run_id, by=f"{settings.instance}:{os.getpid()}")
        if attempt is None:
            return RunState.SKIPPED.value
        run = s.get_one(Run, run_id)
        spec, period_key = JOBS[run.job], run.period_key
    stop = threading.Event()

    def beat():
        with factory() as hs:
            while not stop.wait(max(1.0, runs.HEARTBEAT_STALE.total_seconds() / 3)):
                try:
                    runs.heartbeat(hs, run_id, attempt)
                except Exception as exc:  # noqa: BLE001 — a missed beat is retried on the next one
                    hs.rollback()
                    log.warning("run %s: heartbeat failed: %s", run_id, exc)

    beater = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{run_id}")
    beater.start()
    try:
        with factory() as s:
            run = s.get_one(Run, run_id)
            s.commit()  # end the read: jobs that open sessions of their own must not wait on this one
            log.info("run %s: %s %s started (attempt %s)", run_id, run.job, run.period_key, attempt,
                     extra={"run_id": run_id})
            summary = run_in_session(s, run, settings, dry_run=dry_run)
            # Commit the results only while this attempt holds the run (on PostgreSQL the check
            # locks the run's row until the commit, so no other attempt claims it in between).
            if not runs.holds(s, run_id, attempt):
                s.rollback()
                log.warning("run %s: attempt %s was taken over by another worker; its work is dropped",
                            run_id, attempt, extra={"run_id": run_id})
                return "superseded"
            s.commit()
        with factory() as s:
            runs.finish(s, run_id, RunState.SUCCEEDED.value, summary=summary, attempt=attempt)
        log.info("run %s: %s succeeded", run_id, spec.name, extra={"run_id": run_id})
        stop.set()
        start_parts(factory, summary.get("parts", []), send, database_url)
        return RunState.SUCCEEDED.value
    except Exception as exc:
        from .broker import is_transient

        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        transient = is_transient(0, exc)
        try:
            with factory() as s:
                if not runs.holds(s, run_id, attempt):   # a stale attempt: the holder decides, not us
                    s.rollback()
                    log.warning("run %s: attempt %s failed after being taken over: %s", run_id, attempt, exc,
                                extra={"run_id": run_id})
                    return "superseded"
                if transient:  # the broker retries the message: leave the run claimable
                    runs.requeue(s, run_id, error=error)
                    s.commit()
                else:
                    runs.finish(s, run_id, RunState.FAILED.value, error=error, attempt=attempt)
                    from .alerts import alert_now
                    alert_now(f"run_failed:{run_id}", f"任务失败：{spec.name}（{period_key}，运行 {run_id}）",
                              [f"错误：{type(exc).__name__}: {str(exc)[:500]}", "详见 hotline runs --failed。"],
                              job=spec.name, sender=settings.smtp["sender"], session_factory=factory)   # its own transaction
        except Exception:  # the database itself is gone: the sweep will find the run
            log.exception("run %s: could not record the failure", run_id, extra={"run_id": run_id})
        log.error("run %s: %s %s: %s", run_id, spec.name, "will be retried" if transient else "failed", exc,
                  extra={"run_id": run_id})
        raise
    finally:
        stop.set()
        beater.join(timeout=5)


def spawn_part(ctx: JobContext, job_name: str, key: str, params: dict[str, Any]) -> Run:
    """A part of ``ctx.run`` done by a run of its own (``job_name``, carrying PARAMS: what the run
    decided for it), in the run's transaction.  Its ledger key is the run's with ``/KEY``
    (``daily-supervision/D20`` at the run's slot): one part per run and key whatever the attempts;
    a run executed again (a retry, ``hotline run`` again, the console's 重新运行) queues its parts
    again with what it decided this time.  The run's summary lists them (``parts``)."""
    run = ctx.run
    params = dict(run.params or {}, **params, part_of=run.id)
    part, new = runs.get_or_create(ctx.session, schedule=f"{run.schedule}/{key}", nominal_at=run.nominal_at,
                                   job=job_name, period_key=run.period_key, params=params)
    if not new:
        part.params = params
        runs.requeue(ctx.session, part.id)
    part.enqueued_at, part.enqueues = now_local(), part.enqueues + 1
    ctx.summary.setdefault("parts", []).append(part.id)
    return part


def start_parts(factory, part_ids: list[int], send: Callable[[str, int], str | None] | None,
                database_url: str | None = None) -> None:
    """Start the parts of a run that has committed: sent to the workers (their message ids kept for
    the sweep), or executed here in turn.  One that cannot be sent or fails is logged and goes on
    (a failed part is in the ledger and alerted; one not sent is queued there, and the scheduler's
    sweep sends it again)."""
    with factory() as s:
        parts = s.execute(select(Run.id, Run.job).where(Run.id.in_(part_ids)).order_by(Run.id)).all()
    for part_id, job_name in parts:
        try:
            if send is None:
                execute(part_id, database_url=database_url)
            else:
                message_id = send(job_name, part_id)
                with factory() as s:
                    runs.sent(s, part_id, message_id)
        except Exception as exc:  # noqa: BLE001 — recorded in the ledger, or left queued for the sweep
            log.error("run %s (%s): %s", part_id, job_name, exc, extra={"run_id": part_id})


def run_in_session(session: Session, run: Run, settings: Settings, dry_run: bool = False) -> dict[str, Any]:
    """Execute a run's job inside ``session`` (the caller commits or rolls back)."""
    params = dict(run.params or {})
    as_of = datetime.fromisoformat(params["as_of"]) if params.get("as_of") else run.nominal_at
    period = parse_key(run.period_key) if run.period_key not in ("", "-") else None
    ctx = JobContext(run=run, session=session, settings=settings, cal=load_calendar(), rules=load_rules(),
                     period=period, as_of=as_of, params=params, dry_run=dry_run)
    return JOBS[run.job].fn(ctx) or ctx.summary


def run_with_parts(session: Session, run: Run, settings: Settings, dry_run: bool = False) -> list[tuple[Run, dict, float]]:
    """A run and then its parts, all inside ``session`` (the preview, the replay: one transaction,
    the caller commits or rolls back): (run, summary, seconds) of the run and of each part, in that
    order.  The ledger rows' states are the caller's to set."""
    def timed(r: Run) -> tuple[Run, dict, float]:
        began = time.perf_counter()
        return r, run_in_session(session, r, settings, dry_run=dry_run), time.perf_counter() - began

    done = [timed(run)]
    return done + [timed(session.get_one(Run, part_id)) for part_id in done[0][1].get("parts", [])]


class PeriodNotEnded(ValueError):
    """A manual run asked for a period that has not ended yet."""


def manual_period(job_name: str, at: datetime | None) -> tuple[Period | None, datetime, datetime]:
    """(period, as_of, at) of ``hotline run JOB [--at T]``.

    Without ``--at`` a periodic job runs the last complete period (the schedules' rule) and a
    daily one runs as of now.  With ``--at`` it runs the period containing T, which must have
    ended: a bulletin of a week still under way would be sent with half its figures."""
    spec = JOBS.get(job_name)
    if spec is None:
        raise KeyError(f"unknown job {job_name!r}; known: {', '.join(sorted(j for j in JOBS if j not in PARTS))}")
    if spec.part_of:
        raise KeyError(f"{job_name} is a part of the {spec.part_of} runs, started by them: run {spec.part_of}")
    now = now_local()
    if at is None:
        period, as_of = resolve_period(spec.period_kind, now, "previous")
        return period, as_of, (period.start_at if period and spec.period_kind not in ("day", "none") else now)
    period, as_of = resolve_period(spec.period_kind, at, "current")
    if spec.period_kind in ("day", "none"):
        if at > now + timedelta(minutes=10):
            raise PeriodNotEnded(f"--at {at:%Y-%m-%d %H:%M} is in the future")
    elif period is not None and period.end_at > now:   # a periodic job's period: never None
        raise PeriodNotEnded(f"the {spec.period_kind} {period.key} ({period.label()}) has not ended yet; give --at "
                             f"inside a finished {spec.period_kind}, or leave --at out to run the last complete one")
    return period, as_of, at


def manual_run(session: Session, job_name: str, at: datetime | None, params: dict[str, Any] | None = None,
               commit: bool = True) -> Run:
    """The ledger row of ``hotline run JOB [--at T]`` (see ``manual_period``); re-running re-executes it."""
    period, as_of, nominal = manual_period(job_name, at)
    params = dict(params or {}, as_of=as_of.isoformat(sep=" "), fired_at=now_local().isoformat(sep=" "))
    run, new = runs.get_or_create(session, schedule=f"manual:{job_name}", nominal_at=nominal, job=job_name,
                                  period_key=period.key if period else "-", params=params)
    if not new:
        run.params = params
        runs.requeue(session, run.id)
    if commit:
        session.commit()
    return run


def preview(job_name: str, at: datetime | None, out_dir: Path) -> tuple[Run, dict, int]:
    """Run a job as a dry run: in one transaction rolled back at the end, its documents written under
    ``out_dir/documents`` and its messages as .eml files under ``out_dir/outbox``, its parts' with
    them (executed after it in the same transaction).  Nothing is kept in the database, nothing is
    queued for sending.  Returns (run, summary — with its parts' documents —, messages written)."""

    from .delivery import last_message, write_eml

    settings = load_settings().with_var(out_dir)
    session = session_factory()()
    try:
        first = last_message(session)
        run = manual_run(session, job_name, at, commit=False)
        done = run_with_parts(session, run, settings, dry_run=True)
        summary = dict(done[0][1], documents=[d for _, part, _ in done for d in part.get("documents", [])])
        written = write_eml(session, out_dir / "outbox", settings.smtp["sender"], settings.smtp["sender_name"],
                            [r.id for r, _, _ in done], first)
        return run, summary, written
    finally:
        session.rollback()
        session.close()

