"""The scheduler and the run ledger under faults (issue 18): no slot lost, no storm, no stale write."""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tests.faults import observe, outbox_rows
from tests.test_scheduler import Clock, ledger, make_scheduler
from worker.db import session_scope
from worker.models import Document, Run

EVERY_MINUTE = """
schedules:
  - name: minute
    actor: send_outbox
    cron: "* * * * *"
    misfire: {policy}
    grace_minutes: {grace}
  - name: sheet
    actor: daily_sheet
    cron: "30 8 * * *"
"""


def write(path, policy="skip", grace=10):
    path.write_text(EVERY_MINUTE.format(policy=policy, grace=grace), encoding="utf-8")


@pytest.mark.parametrize("policy,grace,fired", [
    ("skip", 10, ["10:00", "10:08"]),                       # the slot on time fires; the missed are skipped
    ("run_once", 10, ["10:00", "10:08"]),                   # on time exists: the missed ones are skipped
    ("catch_up", 3, ["10:00", "10:06", "10:07", "10:08"]),  # only those inside the 3-minute grace run
])
def test_misfire_policy_after_eight_minutes_down_and_every_slot_in_the_ledger(sqlite_db, tmp_path, policy, grace,
                                                                              fired, figures):
    path = tmp_path / "s.yaml"
    write(path, policy, grace)
    clock, got = Clock(datetime(2026, 11, 16, 9, 59, 50)), []
    sched = make_scheduler(path, clock, got)
    sched.tick()
    clock.now = datetime(2026, 11, 16, 10, 0, 5)
    sched.tick()
    clock.now = datetime(2026, 11, 16, 10, 8, 30)             # the machine was down for eight minutes
    make_scheduler(path, clock, got).tick()
    assert [t.strftime("%H:%M") for s, t in got if s == "minute"] == fired
    rows = [(t.strftime("%H:%M"), state, error) for s, t, state, error in ledger() if s == "minute"]
    assert [r[0] for r in rows] == [f"10:0{i}" for i in range(9)]     # every slot accounted for, once
    assert all(state == "skipped" and error for _, state, error in rows if _ not in fired)
    figures("schedule slots fired", len(fired))
    figures("schedule slots expected in the ledger", 9)
    figures("schedule slots lost", 9 - len(rows))


def test_one_failing_schedule_loses_no_slot_and_stops_no_other(sqlite_db, tmp_path, monkeypatch):
    from worker.scheduler import Scheduler

    path = tmp_path / "s.yaml"
    write(path)
    clock, got = Clock(datetime(2026, 11, 16, 8, 29, 30)), []
    sched = make_scheduler(path, clock, got)
    sched.tick()
    real_fire, broken = Scheduler.fire, {"on": True}

    def fire(self, slot, decision):
        if slot.schedule.name == "sheet" and broken["on"]:
            raise RuntimeError("the database refused the insert")
        return real_fire(self, slot, decision)

    monkeypatch.setattr(Scheduler, "fire", fire)
    clock.now = datetime(2026, 11, 16, 8, 30, 10)
    sched.tick()                                              # sheet fails, minute goes on
    assert ("minute", datetime(2026, 11, 16, 8, 30)) in got and all(s != "sheet" for s, _ in got)
    clock.now = datetime(2026, 11, 16, 8, 30, 40)
    sched.tick()                                              # the same fault again: recorded once
    with session_scope() as s:
        problems = s.scalars(select(Run.error).where(Run.job == "config")).all()
    assert len(problems) == 1 and "schedule 'sheet'" in problems[0] and "refused the insert" in problems[0]
    broken["on"] = False
    clock.now = datetime(2026, 11, 16, 8, 31, 5)
    sched.tick()                                              # repaired: the 08:30 slot was not lost
    assert ("sheet", datetime(2026, 11, 16, 8, 30)) in got


def test_a_broken_calendar_edit_keeps_the_last_valid_calendar(sqlite_db, tmp_path, monkeypatch):
    from worker.config import PROJECT_ROOT

    calendar = tmp_path / "calendar.yaml"
    calendar.write_text((PROJECT_ROOT / "calendar.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CALENDAR", str(calendar))
    path = tmp_path / "s.yaml"
    write(path)
    clock, got = Clock(datetime(2026, 11, 16, 8, 29, 0)), []
    sched = make_scheduler(path, clock, got)
    sched.tick()
    calendar.write_text("years:\n  2026: [broken\n", encoding="utf-8")
    os.utime(calendar, (time.time() + 5, time.time() + 5))
    clock.now = datetime(2026, 11, 16, 8, 30, 20)
    sched.tick()
    assert ("sheet", datetime(2026, 11, 16, 8, 30)) in got
    with session_scope() as s:
        (problem,) = s.scalars(select(Run.error).where(Run.job == "config")).all()
    assert "calendar: invalid edit, keeping the last valid calendar" in problem and "not valid YAML" in problem


def test_no_requeue_storm_while_no_worker_runs(sqlite_db, tmp_path, monkeypatch):
    import worker.scheduler

    monkeypatch.setattr(worker.scheduler, "REQUEUE_AFTER", timedelta(seconds=4))
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: \"30 8 * * *\"\n",
                    encoding="utf-8")
    clock, sent = Clock(datetime(2026, 11, 16, 8, 29, 58)), []
    from worker.scheduler import Scheduler
    sched = Scheduler(path, redis_url=None, enqueue=lambda run: sent.append(clock.now), clock=clock)
    for _ in range(62):                   # a tick a second for a minute; nobody takes the run
        clock.now += timedelta(seconds=1)
        sched.tick()
    # Sent when it fired (08:30:00), then again after 8, 16 and 32 more seconds: 4 sends, not ~57.
    assert [f"{t:%M:%S}" for t in sent] == ["30:00", "30:08", "30:24", "30:56"]


@pytest.mark.postgres
def test_a_frozen_holder_of_row_locks_is_cut_off_and_the_takeover_proceeds(postgres_db, history, monkeypatch):
    """Attempt 1 freezes after its work, before committing: it holds the locks of the rows it wrote.
    Attempt 2 takes the run over and must not wait for it (the server ends the frozen session,
    idle in its transaction); attempt 1, resumed, commits nothing."""
    from worker import db, runs, tasks  # noqa: F401 — registers the jobs
    from worker.jobs import JOBS, execute

    monkeypatch.setenv("HOTLINE_PG_IDLE_IN_TRANSACTION_TIMEOUT", "6s")
    db.get_engine.cache_clear()
    history.ticket("F1", "2026-11-09 08:00").dispatch("2026-11-09 09:00", "D20")
    history.store()
    with session_scope() as s:
        run = runs.create(s, schedule="manual:daily_sheet", nominal_at=datetime(2026, 11, 13, 8, 30), job="daily_sheet",
                          period_key="2026-11-13", params={"as_of": "2026-11-13 08:30:00"})
        s.commit()
        run_id = run.id
    spec = JOBS["daily_sheet"]
    real, frozen, resume = spec.fn, threading.Event(), threading.Event()

    def job(ctx):
        out = real(ctx)
        if not frozen.is_set():
            frozen.set()
            resume.wait(120)
        return out

    monkeypatch.setattr(spec, "fn", job)
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", _quiet(execute, run_id)))
    first.start()
    assert frozen.wait(60)
    with session_scope() as s:
        s.execute(text("update runs set heartbeat_at = heartbeat_at - interval '10 minutes' where id = :i"), {"i": run_id})
    second = threading.Thread(target=lambda: results.setdefault("second", _quiet(execute, run_id)))
    second.start()
    second.join(45)                        # attempt 1 is still frozen meanwhile
    taken_over = not second.is_alive()
    resume.set()
    first.join(60)
    second.join(60)
    with session_scope() as s:
        run = s.get(Run, run_id)
        documents = s.scalar(select(func.count()).select_from(Document))
    letters = outbox_rows()
    observe("worker frozen holding row locks (PostgreSQL)", lost=int(run.state != "succeeded"),
            doubled=max(0, documents - 1) + max(0, len(letters) - 1), stuck=int(not taken_over))
    assert taken_over, "attempt 2 waited for the frozen attempt's locks"
    assert (results["second"], results["first"]) == ("succeeded", "superseded")
    assert (run.state, run.attempts, documents, len(letters)) == ("succeeded", 2, 1, 1)


def _quiet(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        return f"raised {exc!r}"


@pytest.mark.postgres
def test_only_the_slot_key_means_taken(postgres_db):
    """A sequence behind its table (after a crash) raises; it is never read as "slot taken"."""
    from sqlalchemy.exc import IntegrityError

    from worker import runs

    with session_scope() as s:
        first = runs.create(s, schedule="x", nominal_at=datetime(2026, 11, 1), job="daily_sheet",
                            period_key="2026-11-01", params={})
        s.commit()
        assert runs.create(s, schedule="x", nominal_at=datetime(2026, 11, 1), job="daily_sheet",
                           period_key="2026-11-01", params={}) is None           # the slot's own key: taken
        s.execute(text("select setval(pg_get_serial_sequence('runs', 'id'), :v, false)"), {"v": first.id})
        s.commit()
        with pytest.raises(IntegrityError):
            runs.create(s, schedule="y", nominal_at=datetime(2026, 11, 2), job="daily_sheet",
                        period_key="2026-11-02", params={})


@pytest.mark.redis
def test_a_waiting_message_is_not_sent_again_only_a_lost_one(sqlite_db, tmp_path, redis_url, monkeypatch):
    """No worker for a while: the run's message still waits in Redis, so it is not doubled; once the
    message is really gone (Redis restarted without persistence), the run is sent again."""
    import uuid

    import redis

    import worker.scheduler
    from worker.scheduler import Scheduler

    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOTLINE_REDIS_NAMESPACE", namespace)
    monkeypatch.setattr(worker.scheduler, "REQUEUE_AFTER", timedelta(seconds=4))
    client = redis.Redis.from_url(redis_url)
    sent = []

    def enqueue(run):   # what Dramatiq's Redis broker does: the message in <ns>:<queue>.msgs
        message_id = uuid.uuid4().hex
        client.hset(f"{namespace}:reports.msgs", message_id, b"{}")
        sent.append(message_id)
        return message_id

    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: \"30 8 * * *\"\n", encoding="utf-8")
    clock = Clock(datetime(2026, 11, 16, 8, 29, 58))
    sched = Scheduler(path, redis_url=redis_url, enqueue=enqueue, clock=clock)
    try:
        for _ in range(40):
            clock.now += timedelta(seconds=1)
            sched.tick()
        assert len(sent) == 1                       # waiting in Redis for a worker: never doubled
        client.delete(f"{namespace}:reports.msgs")  # the message is lost
        for _ in range(40):
            clock.now += timedelta(seconds=1)
            sched.tick()
        assert len(sent) == 2
        with session_scope() as s:
            run = s.scalars(select(Run).where(Run.schedule == "sheet")).one()
            assert run.message_id == sent[-1] and run.enqueues == 2
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
