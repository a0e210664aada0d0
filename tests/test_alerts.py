"""No failure goes unnoticed (issue 17): alerts to the owners, once per cause and day, and doctor."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.test_scheduler import Clock, make_scheduler
from worker.cli import main
from worker.db import session_scope
from worker.models import OutboxMessage, Run
from worker.times import now_local


def alerts():
    with session_scope() as s:
        return [(m.recipient_email, m.subject) for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "alert").order_by(OutboxMessage.id))]


def test_a_failed_run_alerts_its_owners_once_a_day(sqlite_db, monkeypatch):
    from worker import tasks  # noqa: F401 — registers the jobs
    from worker.jobs import JOBS

    def broken(ctx):
        raise RuntimeError("template missing")

    monkeypatch.setattr(JOBS["weekly_bulletin"], "fn", broken)
    for _ in range(2):
        res = CliRunner().invoke(main, ["run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00"])
        assert res.exit_code == 1 and "template missing" in res.output
    got = alerts()
    # The default owner and the bulletin's own (config/alerts.yaml), once each for this cause today.
    assert sorted(e for e, _ in got) == ["center@example.gov.cn", "ops@example.gov.cn"]
    assert all("任务失败：weekly_bulletin（2026-W46" in subj for _, subj in got)


def test_a_refused_message_fails_the_send_run_and_alerts(sqlite_db, history, smtp):
    history.ticket("Q1", "2026-11-09 08:00").dispatch("2026-11-09 09:00", "D01")
    history.store()
    assert CliRunner().invoke(main, ["run", "supervision", "--inline", "--at", "2026-11-13 10:00"]).exit_code == 0
    smtp.refuse = ["550 5.7.1 relaying denied"] * 10
    res = CliRunner().invoke(main, ["run", "send_outbox", "--inline"])
    assert res.exit_code == 1 and "refused permanently" in res.output
    with session_scope() as s:
        run = s.scalars(select(Run).where(Run.job == "send_outbox")).one()
        # The two letters, and the alerts about them (the relay refuses those too: an owner address
        # that cannot receive is alerted once, never in a chain).
        assert run.state == "failed" and "5 message(s) refused permanently (sent 0" in run.error
    subjects = [subj for _, subj in alerts()]
    assert any("邮件被邮件服务器永久拒收" in x for x in subjects) and any("任务失败：send_outbox" in x for x in subjects)


def test_an_invalid_schedule_edit_alerts_once(sqlite_db, tmp_path):
    import os
    import time

    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: \"30 8 * * *\"\n", encoding="utf-8")
    clock, fired = Clock(datetime(2026, 11, 16, 8, 0)), []
    sched = make_scheduler(path, clock, fired)
    sched.tick()
    path.write_text("schedules:\n  - name: sheet\n    actor: daily_sheeet\n    cron: \"30 8 * * *\"\n", encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    for minute in range(1, 4):
        clock.now = datetime(2026, 11, 16, 8, minute)
        sched.tick()
    config_alerts = [subj for _, subj in alerts() if "配置有误" in subj]
    assert len(config_alerts) == 1          # one owner (the default), once
    with session_scope() as s:
        body = s.scalars(select(OutboxMessage.body_text).where(OutboxMessage.kind == "alert",
                                                               OutboxMessage.subject.contains("配置有误"))).one()
    assert "unknown actor 'daily_sheeet' (did you mean 'daily_sheet'?)" in body


def test_no_worker_and_a_backlog_are_reported_by_the_scheduler_itself(sqlite_db, tmp_path, smtp):
    """Nobody takes the runs: the scheduler alerts by e-mail, with no worker involved."""
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: \"30 8 * * *\"\n", encoding="utf-8")
    from worker.scheduler import Scheduler
    clock = Clock(now_local() - timedelta(hours=1))
    sched = Scheduler(path, redis_url=None, enqueue=lambda run: None, clock=clock)
    sched.tick()
    with session_scope() as s:
        from worker import runs
        run = runs.create(s, schedule="manual:daily_sheet", nominal_at=clock.now, job="daily_sheet", period_key="x",
                          params={})
        run.created_at = clock.now
        s.commit()
    clock.now += timedelta(minutes=20)     # queued for 20 minutes, beyond queued_minutes (15)
    sched.tick()
    assert smtp.messages == []             # the tick only enqueues; the process's courier sends
    from worker.delivery import deliver_alerts
    deliver_alerts(sched.factory, sched.settings)          # what Scheduler._courier does beside the ticks
    received = [str(m["Subject"]) for _, m in smtp.messages]
    assert any("排队超过 15 分钟无人执行" in x for x in received), received
    # The calendar gap is alerted when the next 60 days (alerts.yaml calendar_days) reach a year it lacks.
    from worker.calendar import load_calendar
    gap = sorted({(clock.now + timedelta(days=d)).year for d in range(61)} - {c.year for c in load_calendar().coverage()})
    assert [x for x in received if "工作日历缺少" in x] == [f"【告警】工作日历缺少{year}年节假日安排" for year in gap], received


@pytest.mark.redis
def test_doctor_reports_workers_scheduler_queue_outbox_and_failures(sqlite_db, redis_url, monkeypatch):
    import uuid

    import redis

    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("HOTLINE_REDIS_NAMESPACE", namespace)
    with session_scope() as s:
        from worker import runs
        old = runs.create(s, schedule="x", nominal_at=datetime(2026, 11, 1), job="daily_sheet", period_key="x", params={})
        old.created_at = now_local() - timedelta(hours=1)
        bad = runs.create(s, schedule="y", nominal_at=datetime(2026, 11, 1), job="law_push", period_key="y", params={})
        bad.state, bad.finished_at, bad.error = "failed", now_local(), "RuntimeError: boom"
        s.commit()
    client = redis.Redis.from_url(redis_url)
    try:
        res = CliRunner().invoke(main, ["doctor", "--today", "2026-11-01"])
        out = res.output
        assert res.exit_code == 1
        assert "[FAIL] workers: 0 live" in out and "[FAIL] scheduler: lease held by nobody" in out
        assert "[FAIL] queue: 1 run(s) queued, the oldest for 60 min" in out
        assert "[FAIL] runs: 1 failed in the last day" in out and "law_push y: RuntimeError: boom" in out
        client.set(f"{namespace}:workers:host:123", "now", ex=30)
        client.set(f"{namespace}:scheduler:leader", "host:456:abc|0123456789ab", ex=30)
        client.set(f"{namespace}:scheduler:last_tick", f"{now_local():%Y-%m-%d %H:%M:%S}|host:456:abc", ex=30)
        out = CliRunner().invoke(main, ["doctor", "--today", "2026-11-01"]).output
        assert "[ok  ] workers: 1 live: host:123" in out
        assert "[ok  ] scheduler: lease held by host:456:abc (schedules 0123456789ab); last tick" in out
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)


def test_prometheus_series_with_our_own_names(sqlite_db, history, tmp_path):
    import urllib.request

    from tests.conftest import free_port
    from worker.db import session_factory
    from worker.monitoring import serve

    history.ticket("M1", "2026-11-09 08:00").dispatch("2026-11-09 09:00", "D01")
    history.store()
    assert CliRunner().invoke(main, ["run", "supervision", "--inline", "--at", "2026-11-13 10:00"]).exit_code == 0
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("工单编号,环节,环节时间\nA,交办,bad\n", encoding="utf-8")
    CliRunner().invoke(main, ["import", str(csv_path)])
    port = free_port()
    serve(session_factory(), port, last_tick=lambda: __import__("time").monotonic() - 3)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'hotline_runs{job="supervision",state="succeeded"} 1.0' in text
    assert 'hotline_last_success_timestamp_seconds{schedule="manual:supervision"}' in text
    assert 'hotline_outbox_messages{state="pending"} 2.0' in text and "hotline_outbox_oldest_waiting_seconds" in text
    assert 'hotline_import_rows_total{outcome="refused"} 1.0' in text
    assert "hotline_scheduler_tick_lag_seconds 3." in text
