"""The run ledger: every job execution is a row, keyed by (schedule, nominal fire time).

- ``create``: the unique key makes a slot fire once whatever the number of schedulers.
- ``claim``: one worker at a time holds a run (``queued`` → ``running``); a run whose holder
  stopped sending heartbeats (killed, frozen) can be claimed again, so a redelivered message
  completes it exactly once.
- ``sweep``: runs running past their job's time limit are marked ``failed`` (never left running)
  and runs whose holder vanished go back to ``queued`` to be enqueued again.
- Fencing: a claim is numbered (``attempts``); only the attempt that holds the claim records the
  run's outcome or commits its results (``holds``, ``finish``).  A worker frozen past its heartbeat
  whose run was taken over finds, when it resumes, that it no longer holds it, and rolls back quietly.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import rowcount
from .models import Run, RunState
from .times import now_local, now_precise

# A run whose holder sent no heartbeat for this long is taken to be lost (killed or frozen).
HEARTBEAT_STALE = timedelta(seconds=float(os.environ.get("HOTLINE_HEARTBEAT_STALE", "30")))


def create(session: Session, *, schedule: str, nominal_at: datetime, job: str, period_key: str, params: dict) -> Run | None:
    """Insert the run for a slot; None if the slot already has one (fired by someone else).

    Only the slot's own unique key means "taken": any other integrity error (a sequence behind
    its table after a crash, say) is raised, to be logged and retried, never read as a slot
    already fired."""
    run = Run(schedule=schedule, nominal_at=nominal_at, job=job, period_key=period_key, params=params,
              state=RunState.QUEUED.value, created_at=now_local(), attempts=0, enqueues=0)
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        taken = session.scalar(select(Run.id).where(Run.schedule == schedule, Run.nominal_at == nominal_at))
        if taken is None:
            raise
        return None
    return run


def get_or_create(session: Session, **kw) -> tuple[Run, bool]:
    run = create(session, **kw)
    if run is not None:
        return run, True
    return session.scalars(select(Run).where(Run.schedule == kw["schedule"], Run.nominal_at == kw["nominal_at"])).one(), False


def requeue(session: Session, run_id: int, error: str | None = None) -> None:
    session.execute(update(Run).where(Run.id == run_id).values(state=RunState.QUEUED.value, error=error, finished_at=None))


def claim(session: Session, run_id: int, stale: timedelta = HEARTBEAT_STALE, by: str | None = None) -> int | None:
    """Take the run (queued, or running without a heartbeat for ``stale``) for the process ``by``
    (``host:pid``, kept on the run); the attempt number held, or None when someone else holds it."""
    now = now_local()
    res = session.execute(update(Run).where(Run.id == run_id, or_(
        Run.state == RunState.QUEUED.value, (Run.state == RunState.RUNNING.value) & (Run.heartbeat_at < now - stale)))
        .values(state=RunState.RUNNING.value, started_at=now_precise(), heartbeat_at=now, attempts=Run.attempts + 1,
                worker=by))
    session.commit()
    if rowcount(res) != 1:
        return None
    return session.scalar(select(Run.attempts).where(Run.id == run_id))


def sent(session: Session, run_id: int, message_id: str | None) -> None:
    """Keep the broker's message id of the run's last send, so the scheduler's sweep can tell a
    message still waiting in the queue from a lost one (``Scheduler.message_alive``)."""
    if isinstance(message_id, str):
        session.execute(update(Run).where(Run.id == run_id).values(message_id=message_id))
        session.commit()


def holds(session: Session, run_id: int, attempt: int | None) -> bool:
    """Whether ``attempt`` still holds the run; in the caller's transaction, which on PostgreSQL then
    keeps the run's row locked until it commits (no other attempt can claim it meanwhile)."""
    if attempt is None:
        return True
    res = session.execute(update(Run).where(Run.id == run_id, Run.state == RunState.RUNNING.value, Run.attempts == attempt)
                          .values(heartbeat_at=now_local()))
    return rowcount(res) == 1


def heartbeat(session: Session, run_id: int, attempt: int | None = None) -> None:
    where = [Run.id == run_id, Run.state == RunState.RUNNING.value] + ([Run.attempts == attempt] if attempt is not None else [])
    session.execute(update(Run).where(*where).values(heartbeat_at=now_local()))
    session.commit()


def finish(session: Session, run_id: int, state: str, summary: dict | None = None, error: str | None = None,
           attempt: int | None = None) -> bool:
    """Record the outcome; with ``attempt``, only if that attempt still holds the run."""
    where = [Run.id == run_id] + ([Run.attempts == attempt, Run.state == RunState.RUNNING.value] if attempt is not None else [])
    res = session.execute(update(Run).where(*where).values(
        state=state, finished_at=now_precise(), summary=summary, error=error))
    session.commit()
    return rowcount(res) == 1


def sweep(session: Session, time_limits: dict[str, timedelta] | timedelta, stale: timedelta = HEARTBEAT_STALE,
          max_attempts: int = 3) -> dict:
    """Mark runs past their job's time limit failed; put runs whose holder vanished back in the queue."""
    now = now_local()
    limits: list[tuple[str | None, timedelta]] = [(None, time_limits)] if isinstance(time_limits, timedelta) \
        else list(time_limits.items())   # None: every job
    timed_out: list[int] = []
    for job, limit in limits:
        where = [Run.state == RunState.RUNNING.value, Run.started_at < now - limit] + ([Run.job == job] if job else [])
        timed_out += session.execute(update(Run).where(*where)
                                     .values(state=RunState.FAILED.value, finished_at=now, error=f"exceeded the time limit of {limit}")
                                     .returning(Run.id)).scalars().all()
    orphaned = session.execute(select(Run.id, Run.attempts).where(Run.state == RunState.RUNNING.value,
                                                                  Run.heartbeat_at < now - stale)).all()
    requeued, abandoned = [], []
    for run_id, attempts in orphaned:
        if attempts >= max_attempts:
            session.execute(update(Run).where(Run.id == run_id).values(
                state=RunState.FAILED.value, finished_at=now, error=f"worker lost {attempts} times"))
            abandoned.append(run_id)
        else:
            session.execute(update(Run).where(Run.id == run_id, Run.state == RunState.RUNNING.value).values(state=RunState.QUEUED.value))
            requeued.append(run_id)
    session.commit()
    return {"timed_out": list(timed_out), "requeued": requeued, "abandoned": abandoned}
