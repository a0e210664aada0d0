"""schedules.yaml validation and preview, the scheduler's slot logic, the Redis lease, and real
scheduler processes competing for the same slots."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.faults import observe, slot_counts
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Run
from worker.times import now_local

GOOD = """
timezone: Asia/Shanghai
schedules:
  - name: sheet
    actor: daily_sheet
    cron: "30 8 * * *"
    days: workdays
    on_holiday: skip
  - name: bulletin
    actor: weekly_bulletin
    cron: "0 9 * * 1"
    days: workdays
    on_holiday: next_workday
    misfire: catch_up
    grace_minutes: 4320
"""


def test_shipped_schedules_are_valid():
    res = CliRunner().invoke(main, ["schedules", "validate"])
    assert res.exit_code == 0 and "18 schedules, valid" in res.output


def test_every_problem_is_reported_with_its_line(tmp_path):
    bad = tmp_path / "schedules.yaml"
    bad.write_text("""timezone: Mars/Olympus
colour: red
schedules:
  - name: a
    actor: daily_sheet
    cron: "61 8 * * *"
  - name: a
    actor: no_such_job
    cron: "0 9 * * 1"
    recipients: [hotline_center, nobody]
  - name: c
    actor: law_push
    cron: "0 9 * * *"
    days: weekdays
    typo_key: 1
""", encoding="utf-8")
    res = CliRunner().invoke(main, ["schedules", "validate", str(bad)])
    assert res.exit_code == 1
    out = res.output
    # Each problem on the line of the offending key, with the closest valid name where there is one.
    assert f"{bad}:2: unknown key 'colour'" in out
    assert f"{bad}:1: unknown time zone 'Mars/Olympus'" in out
    assert f"{bad}:6: schedule 'a': bad cron expression '61 8 * * *': the minute field '61' is outside 0-59" in out
    assert f"{bad}:7: duplicate schedule name 'a'" in out
    assert f"{bad}:8: schedule 'a': unknown actor 'no_such_job'" in out
    assert f"{bad}:10: schedule 'a': unknown recipient group 'nobody'" in out
    assert f"{bad}:15: unknown key 'typo_key' in schedule 'c'" in out
    assert f"{bad}:14: schedule 'c': days must be one of all, workdays, not 'weekdays' (did you mean 'workdays'?)" in out


def test_schedule_mistakes_get_suggestions_and_types_are_checked(tmp_path):
    bad = tmp_path / "schedules.yaml"
    bad.write_text("""timezone: Asia/Shanghai
defaults:
  on_holday: skip
schedules:
  - name: a
    actor: weekly_bulletn
    cron: "0 0 30 2 *"
  - name: b
    actor: daily_sheet
    cron: "30 8 * * *"
    recipients: hotline_center
    first_workday_of_month: "no"
  - name: c
    actor: law_push
    cron: "0 9 * *"
    recipients: [hotline_centre]
""", encoding="utf-8")
    res = CliRunner().invoke(main, ["schedules", "validate", str(bad)])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert f"{bad}:3: defaults: unknown key 'on_holday' (did you mean 'on_holiday'?)" in lines
    assert f"{bad}:6: schedule 'a': unknown actor 'weekly_bulletn' (did you mean 'weekly_bulletin'?)" in lines
    assert f"{bad}:7: schedule 'a': bad cron expression '0 0 30 2 *': it can never fire (no such date within " \
           f"five years)" in lines
    # A string where a list is meant is one error, not one per letter; "no" is not taken for true.
    assert [ln for ln in lines if "'b'" in ln] == [
        f"{bad}:11: schedule 'b': recipients must be a list such as [hotline_center], not the string 'hotline_center'",
        f"{bad}:12: schedule 'b': first_workday_of_month must be true or false (unquoted), not 'no'"]
    assert f"{bad}:15: schedule 'c': bad cron expression '0 9 * *': 4 field(s) where 5 are needed: minute hour " \
           f"day-of-month month day-of-week" in lines
    assert f"{bad}:16: schedule 'c': unknown recipient group 'hotline_centre' (did you mean 'hotline_center'?)" in lines
    assert len(lines) == 7


def test_next_prints_each_slot_once_with_its_period_and_a_calendar_gap_once():
    res = CliRunner().invoke(main, ["schedules", "next", "--count", "3", "--from", "2026-11-23 12:00"])
    assert res.exit_code == 0
    out = res.output
    assert len(out.splitlines()) < 68             # 18 schedules (one off), 3 slots each, at most
    assert "  2026-11-30 Mon 09:00  reports 2026年11月23日至11月29日" in out    # the bulletin and the week it reports
    assert "  2026-12-01 Tue 09:00  reports 2026年11月" in out                 # the monthly analysis
    assert out.count("calendar has no data for 2027") == 1


def test_invalid_yaml_names_the_line(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("schedules:\n  - name: a\n    cron: [unclosed\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["schedules", "validate", str(bad)])
    assert res.exit_code == 1 and f"{bad}:4: not valid YAML" in res.output


def test_next_shows_national_day_skip_and_move(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD, encoding="utf-8")
    res = CliRunner().invoke(main, ["schedules", "next", "--file", str(path), "--from", "2026-09-30 09:00",
                                    "--count", "2"])
    assert res.exit_code == 0, res.output
    assert "2026-10-01 Thu 08:30  skipped: not a working day" in res.output
    assert "2026-10-08 Thu 08:30" in res.output
    assert "2026-10-05 Mon 09:00  → 2026-10-08 Thu 09:00" in res.output


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self):
        return self.now


def make_scheduler(path: Path, clock, fired: list, **kw):
    """A scheduler whose enqueue stands for a worker that takes and completes the run at once."""
    from worker import tasks  # noqa: F401
    from worker.scheduler import Scheduler

    def enqueue(run):
        fired.append((run.schedule, run.nominal_at))
        with session_scope() as s:
            s.execute(Run.__table__.update().where(Run.id == run.id).values(state="succeeded"))

    return Scheduler(path, redis_url=None, enqueue=enqueue, clock=clock, **kw)


def ledger():
    with session_scope() as s:
        return [(r.schedule, r.nominal_at, r.state, r.error) for r in s.scalars(select(Run).order_by(Run.nominal_at,
                                                                                                 Run.schedule))]


def test_the_scheduler_wakes_on_the_slot_not_a_tick_later(sqlite_db, tmp_path):
    """Between passes the scheduler sleeps until the next slot of any schedule (a few ms past it),
    at most one tick: the 08:30 sheet goes out at 08:30:00, not up to a tick later."""
    path = tmp_path / "s.yaml"
    path.write_text('schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: "30 8 * * *"\n'
                    '  - name: bulletin\n    actor: weekly_bulletin\n    cron: "0 9 * * 1"\n'
                    '  - name: idle\n    actor: send_outbox\n    cron: "* * * * *"\n    enabled: false\n',
                    encoding="utf-8")
    sched = make_scheduler(path, lambda: datetime(2026, 12, 21, 8, 29), [], tick_seconds=5)
    sched.reload_if_changed()
    assert sched.seconds_to_wait(datetime(2026, 12, 21, 8, 29, 58, 250000)) == pytest.approx(1.755)
    assert sched.seconds_to_wait(datetime(2026, 12, 21, 8, 25)) == 5          # never longer than a tick
    assert sched.seconds_to_wait(datetime(2026, 12, 21, 8, 59, 59, 999000)) == pytest.approx(0.006)


def test_holiday_skip_move_and_two_replicas_fire_once(sqlite_db, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD, encoding="utf-8")
    clock, fired = Clock(datetime(2026, 9, 30, 8, 0)), []
    # Both replicas pass together from 30 Sep to 9 Oct 09:00, sleeping as the scheduler does: until
    # the next slot of any schedule, and never longer than a tick (three hours here, so that the
    # bulletin moved to Thu 8 Oct 09:00, which is no slot of the cron, is seen that day).
    a, b = (make_scheduler(path, clock, fired, tick_seconds=3 * 3600) for _ in range(2))
    a.tick()                             # started at 08:00: a first pass at once
    b.tick()
    while clock.now < datetime(2026, 10, 9, 9, 0):
        clock.now += timedelta(seconds=a.seconds_to_wait(clock.now))
        a.tick()
        b.tick()
    sheets = [t for s, t in fired if s == "sheet"]
    assert [t.date().isoformat() for t in sheets] == ["2026-09-30", "2026-10-08", "2026-10-09"]
    assert [t for s, t in fired if s == "bulletin"] == [datetime(2026, 10, 5, 9, 0)]   # fired on 8 Oct
    skipped = [(s, t.date().isoformat()) for s, t, state, _ in ledger() if state == "skipped"]
    assert ("sheet", "2026-10-01") in skipped and ("sheet", "2026-10-04") in skipped
    with session_scope() as s:
        bulletin = s.scalars(select(Run).where(Run.schedule == "bulletin")).one()
    assert bulletin.period_key == "2026-W40"        # the week before the nominal Monday


def test_policy_files_are_read_again_only_when_they_change(sqlite_db, tmp_path, monkeypatch):
    """Each tick checks config/*.yaml, reading a file again only once it changed: an invalid edit is
    in the ledger at the next tick, a file left alone is not parsed again."""
    import shutil

    import worker.policy_schema

    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    checked, check = [], worker.policy_schema.check
    monkeypatch.setattr(worker.policy_schema, "check", lambda name, path: (checked.append(name), check(name, path))[1])
    path = tmp_path / "s.yaml"
    path.write_text(GOOD, encoding="utf-8")
    clock, fired = Clock(datetime(2026, 11, 16, 8, 0)), []
    sched = make_scheduler(path, clock, fired)
    sched.tick()
    first = sorted(checked)
    assert "metrics" in first and "escalation" in first
    for minutes in (1, 2, 3):
        clock.now = datetime(2026, 11, 16, 8, minutes)
        sched.tick()
    assert sorted(checked) == first                  # three ticks, nothing read again
    metrics = folder / "metrics.yaml"
    metrics.write_text(metrics.read_text(encoding="utf-8").replace("mode: count", "mode: cnt", 1), encoding="utf-8")
    os.utime(metrics, (time.time() + 5, time.time() + 5))
    clock.now = datetime(2026, 11, 16, 8, 4)
    sched.tick()
    assert sorted(checked) == sorted([*first, "metrics"])
    res = CliRunner().invoke(main, ["runs", "--failed"])
    assert "metrics.yaml: invalid edit, the last valid version stays in force" in res.output, res.output


@pytest.mark.parametrize("policy,expected", [
    ("skip", []),
    ("run_once", ["2026-11-19 08:30"]),
    ("catch_up", ["2026-11-17 08:30", "2026-11-18 08:30", "2026-11-19 08:30"]),
])
def test_misfire_policies_after_downtime(sqlite_db, tmp_path, policy, expected):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("    on_holiday: skip\n", f"    on_holiday: skip\n    misfire: {policy}\n"
                                 "    grace_minutes: 4320\n", 1), encoding="utf-8")
    clock, fired = Clock(datetime(2026, 11, 16, 9, 0)), []
    make_scheduler(path, clock, fired).tick()        # runs on Monday, then the machine is down
    assert fired == []                               # Monday's 08:30 was before the schedule existed
    with session_scope() as s:                       # the ledger remembers Monday's slot
        from worker import runs
        runs.create(s, schedule="sheet", nominal_at=datetime(2026, 11, 16, 8, 30), job="daily_sheet",
                    period_key="2026-11-16", params={})
        s.commit()
    clock.now = datetime(2026, 11, 19, 12, 0)        # back on Thursday noon
    make_scheduler(path, clock, fired).tick()
    assert [t.strftime("%Y-%m-%d %H:%M") for s, t in fired if s == "sheet"] == expected
    states = {t.strftime("%m-%d"): st for s, t, st, _ in ledger() if s == "sheet"}
    assert set(states) == {"11-16", "11-17", "11-18", "11-19"}      # every slot accounted for


def test_invalid_edit_keeps_the_last_valid_schedule(sqlite_db, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD, encoding="utf-8")
    clock, fired = Clock(datetime(2026, 11, 16, 8, 0)), []
    sched = make_scheduler(path, clock, fired)
    sched.tick()
    path.write_text(GOOD.replace('"30 8 * * *"', '"99 8 * * *"'), encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    clock.now = datetime(2026, 11, 16, 8, 31)
    sched.tick()
    assert [(s, t) for s, t in fired] == [("sheet", datetime(2026, 11, 16, 8, 30))]
    res = CliRunner().invoke(main, ["runs", "--failed"])
    assert "config" in res.output and "bad cron expression '99 8 * * *'" in res.output


def test_stuck_run_is_marked_failed_and_orphan_requeued(sqlite_db):
    from worker import runs

    with session_scope() as s:
        r1 = runs.create(s, schedule="x", nominal_at=datetime(2026, 11, 1), job="daily_sheet", period_key="2026-11-01",
                         params={})
        r2 = runs.create(s, schedule="y", nominal_at=datetime(2026, 11, 1), job="daily_sheet", period_key="2026-11-01",
                         params={})
        s.commit()
        assert runs.claim(s, r1.id) and runs.claim(s, r2.id)
        old = datetime.now() - timedelta(hours=2)
        s.execute(Run.__table__.update().where(Run.id == r1.id).values(started_at=old, heartbeat_at=old))
        s.execute(Run.__table__.update().where(Run.id == r2.id).values(heartbeat_at=datetime.now() - timedelta(minutes=5)))
        s.commit()
        result = runs.sweep(s, timedelta(minutes=10))
    assert result["timed_out"] == [r1.id] and result["requeued"] == [r2.id]
    assert [st for _, _, st, _ in ledger()] == ["failed", "queued"]


@pytest.mark.redis
def test_lease_hands_over_when_the_holder_stalls(redis_url):
    from worker.scheduler import Lease

    key = f"hotline-test:{os.getpid()}:{time.time()}"
    a, b = Lease(redis_url, key, 1.0), Lease(redis_url, key, 1.0)
    try:
        assert a.hold() and not b.hold()
        time.sleep(1.3)                       # a stalls past its lease
        assert b.hold() and not a.hold()      # b takes over; a cannot renew b's lease
        b.release()
        assert a.hold()
    finally:
        a.client.delete(key)


def _spawn(env):
    return subprocess.Popen([sys.executable, "-m", "worker.cli", "scheduler", "--inline", "--tick", "0.3",
                             "--lease", "1.5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=PROJECT_ROOT)


@pytest.mark.redis
@pytest.mark.postgres
def test_three_scheduler_processes_fire_every_slot_exactly_once(postgres_db, env, tmp_path, redis_url, figures):
    """Every 2 seconds, for ~14 s: the active replica is SIGKILLed, the next one SIGSTOPped past its lease.

    On PostgreSQL, as replicas on several machines are deployed: a replica frozen inside a transaction
    must not block the next one (``lock_timeout``, ``idle_in_transaction_session_timeout``).  On the
    embedded SQLite a frozen writer holds the file's lock, and every process waits for it."""
    _three_schedulers(tmp_path, redis_url, figures, rounds=1)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_scheduler_soak_with_repeated_kills(postgres_db, env, tmp_path, redis_url, figures):
    """The long variant (bench/reliability.sh): five rounds of SIGKILL and SIGSTOP, a replica restarted each time."""
    _three_schedulers(tmp_path, redis_url, figures, rounds=5)


def _three_schedulers(tmp_path, redis_url, figures, rounds: int):
    import redis

    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: tick\n    actor: send_outbox\n    cron: \"* * * * * */2\"\n"
                    "    misfire: catch_up\n    grace_minutes: 10\n", encoding="utf-8")
    # A namespace of its own: the machine's Redis is shared with other runs of the suite, which must
    # neither hold this lease nor see these replicas.
    namespace = f"hotline-test-{os.getpid()}-{time.time_ns()}"
    key = f"{namespace}:scheduler:leader"
    client = redis.Redis.from_url(redis_url)
    proc_env = dict(os.environ, HOTLINE_SCHEDULES=str(path), REDIS_URL=redis_url, HOTLINE_HEARTBEAT_STALE="3",
                    HOTLINE_REQUEUE_AFTER="4", HOTLINE_REDIS_NAMESPACE=namespace,
                    # the frozen replica's transaction ends in 3 s; no statement waits past 2 s for its locks
                    HOTLINE_PG_LOCK_TIMEOUT="2s", HOTLINE_PG_IDLE_IN_TRANSACTION_TIMEOUT="3s")
    procs = [_spawn(proc_env) for _ in range(3)]
    started = now_local()
    try:
        def leader_pid():
            for _ in range(300):   # three cold processes start slowly on a busy machine
                token = client.get(key)
                if token:
                    return int(token.decode().split(":")[1])
                time.sleep(0.1)
            raise AssertionError("no scheduler took the lease")
        time.sleep(4)
        for _ in range(rounds):
            first = leader_pid()
            os.kill(first, signal.SIGKILL)
            time.sleep(4)
            second = leader_pid()
            assert second != first
            os.kill(second, signal.SIGSTOP)
            time.sleep(4)
            assert leader_pid() not in (first, second)
            os.kill(second, signal.SIGCONT)
            procs.append(_spawn(proc_env))             # the killed replica comes back
            time.sleep(2)
        time.sleep(8)    # the sweep finishes what a killed replica had claimed or queued
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for stale in client.scan_iter(f"{namespace}:*"):
            client.delete(stale)
    ended = now_local()
    with session_scope() as s:
        rows = s.execute(select(Run.nominal_at, Run.state).where(Run.schedule == "tick")
                         .order_by(Run.nominal_at)).all()
        dupes = s.scalar(select(func.count()).select_from(select(Run.nominal_at).where(Run.schedule == "tick")
                         .group_by(Run.nominal_at).having(func.count() > 1).subquery()))
    slots = [t for t, _ in rows]
    expected = []
    t = slots[0] if slots else started
    while slots and t <= slots[-1]:
        expected.append(t)
        t += timedelta(seconds=2)
    observe(f"active scheduler SIGKILLed, the next SIGSTOPped ({rounds} round{'s' * (rounds > 1)})",
            lost=len(set(expected) - set(slots)), doubled=dupes, stuck=sum(1 for _, st in rows if st != "succeeded"))
    assert dupes == 0
    assert slots == expected                                  # no gap through both handovers
    assert slots[0] - started < timedelta(seconds=30) and ended - slots[-1] < timedelta(seconds=8)   # cold starts, busy machine
    assert len(slots) >= 5 * rounds
    assert {st for _, st in rows} == {"succeeded"}
    figures("faults injected", 2 * rounds)                   # active scheduler SIGKILLed, next one SIGSTOPped
    figures("faults survived", 2 * rounds)
    figures("schedule slots fired", len(slots))
    figures("schedule slots duplicated", dupes)


def test_json_log_lines_carry_the_run_id():
    import json
    import logging

    from worker.logs import JsonFormatter

    record = logging.LogRecord("hotline.jobs", logging.INFO, __file__, 1, "run %s: %s started", (7, "daily_sheet"),
                               None)
    record.run_id = 7
    line = json.loads(JsonFormatter().format(record))
    assert line["run_id"] == 7 and line["msg"] == "run 7: daily_sheet started" and line["level"] == "info"


@pytest.mark.redis
def test_redis_restarted_while_schedulers_run(sqlite_db, env, tmp_path, figures):
    """A private Redis is killed and restarted under two scheduler replicas: no slot lost, none doubled."""
    import shutil

    import redis

    from tests.conftest import free_port

    server = shutil.which("redis-server")
    if server is None:
        from tests.conftest import unavailable
        unavailable("redis-server binary", FileNotFoundError("redis-server"))
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis():
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            try:
                redis.Redis.from_url(url).ping()
                return proc
            except redis.RedisError:
                time.sleep(0.1)
        raise AssertionError("private redis did not start")

    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: tick\n    actor: send_outbox\n    cron: \"* * * * * */2\"\n"
                    "    misfire: catch_up\n    grace_minutes: 10\n", encoding="utf-8")
    server_proc = start_redis()
    proc_env = dict(os.environ, HOTLINE_SCHEDULES=str(path), REDIS_URL=url)
    procs = [_spawn(proc_env) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60           # cold starts are slow on a busy machine: wait for firing
        while time.monotonic() < deadline and len(ledger()) < 3:
            time.sleep(0.2)
        server_proc.kill()
        server_proc.wait()
        time.sleep(4)                       # no replica can hold the lease: nothing fires
        server_proc = start_redis()
        time.sleep(8)                       # the lease is taken again and the missed slots catch up
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=10)
        server_proc.kill()
    with session_scope() as s:
        slots = s.scalars(select(Run.nominal_at).where(Run.schedule == "tick").order_by(Run.nominal_at)).all()
        states = set(s.scalars(select(Run.state).where(Run.schedule == "tick")))
    gaps = sum(int((b - a) / timedelta(seconds=2)) - 1 for a, b in itertools.pairwise(sorted(set(slots))))
    observe("Redis killed and restarted under two scheduler replicas", lost=gaps, doubled=len(slots) - len(set(slots)),
            stuck=slot_counts("tick")["unfinished"])
    assert len(slots) == len(set(slots)) and len(slots) >= 6
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(slots))   # no gap across the outage
    assert states == {"succeeded"}
    figures("faults injected")                               # Redis killed and restarted
    figures("faults survived")


def test_one_log_format_per_process(capsys, monkeypatch):
    """HOTLINE_LOG_FORMAT=json: every line of the process is JSON, Dramatiq's and ours alike."""
    import json
    import logging

    from worker import logs

    monkeypatch.setenv("HOTLINE_LOG_FORMAT", "json")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup()
        logging.getLogger("dramatiq.worker.WorkerThread").info("worker started")
        logging.getLogger("hotline.scheduler").info("slot x fired", extra={"run_id": 7})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert [(x["logger"], x["msg"], x.get("run_id")) for x in lines] == [
            ("dramatiq.worker.WorkerThread", "worker started", None), ("hotline.scheduler", "slot x fired", 7)]
        monkeypatch.setenv("HOTLINE_LOG_FORMAT", "text")
        logs.setup()
        logging.getLogger("hotline.scheduler").info("slot y fired", extra={"run_id": 8})
        pid = __import__("os").getpid()
        assert capsys.readouterr().err.rstrip().endswith(f"hotline.scheduler [{pid}] slot y fired (run 8)")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
