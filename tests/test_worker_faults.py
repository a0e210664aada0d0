"""Dramatiq workers on the real Redis: a worker SIGKILLed mid-job leaves a run that is retried and
completes once, and its messages are queued once."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select

from tests.faults import observe
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Document, OutboxMessage, Run


def spawn(args, env):
    return subprocess.Popen([sys.executable, "-m", "worker.cli", *args], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.redis
def test_worker_killed_mid_job_is_retried_and_completes_once(sqlite_db, history, redis_url, tmp_path, figures):
    import redis

    # 1,500 tickets due tomorrow: the daily sheet (its XLSX lists every one) takes long enough to be
    # caught running — with 400, a sheet capped at 12 pages sometimes finished between two polls.
    for i in range(1500):
        (history.ticket(f"K{i:04d}", "2026-11-12 08:00", phone=f"1370000{i:04d}").dispatch("2026-11-12 09:00", "D20")
         .sign("2026-11-12 10:00", "D20"))
    history.store()
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - name: idle\n    actor: send_outbox\n    cron: \"0 0 1 1 *\"\n"
                         "    enabled: false\n", encoding="utf-8")
    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=namespace, HOTLINE_HEARTBEAT_STALE="3",
               HOTLINE_SCHEDULES=str(schedules))
    first = spawn(["worker", "--processes", "1", "--threads", "1"], env)
    procs = [first]
    try:
        res = subprocess.run([sys.executable, "-m", "worker.cli", "run", "daily_sheet", "--at", "2026-11-16 08:30"],
                             env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True)
        assert "queued" in res.stdout
        # Poll with a plain reader: WAL lets it see the claim while the job holds the write lock.
        reader = sqlite3.connect(os.environ["DATABASE_URL"].split("///", 1)[1])
        deadline = time.time() + 60
        while time.time() < deadline:
            row = reader.execute("select state from runs where job = 'daily_sheet'").fetchone()
            state = row[0] if row else None
            if state == "running":
                break
            time.sleep(0.005)
        reader.close()
        assert state == "running", "the worker never started the job"
        os.killpg(first.pid, signal.SIGKILL)                  # mid-job
        first.wait(timeout=10)
        with session_scope() as s:
            assert s.scalar(select(Run.state).where(Run.job == "daily_sheet")) == "running"
        procs.append(spawn(["worker", "--processes", "1", "--threads", "1"], env))
        procs.append(spawn(["scheduler", "--tick", "1", "--lease", "3"], env))   # its sweep re-enqueues the run
        deadline = time.time() + 90
        while time.time() < deadline:
            with session_scope() as s:
                run = s.scalars(select(Run).where(Run.job == "daily_sheet")).one()
            if run.state in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        with session_scope() as s:
            documents = s.scalar(select(func.count()).select_from(Document).where(Document.kind == "daily_sheet"))
            keys = s.scalars(select(OutboxMessage.idem_key).where(OutboxMessage.kind == "daily_sheet")).all()
        observe("worker SIGKILLed while rendering", lost=int(run.state != "succeeded" or not keys),
                doubled=max(0, documents - 1) + len(keys) - len(set(keys)), stuck=int(run.state == "running"))
        assert (run.state, run.attempts) == ("succeeded", 2), run.error
        with session_scope() as s:
            assert documents == 1
        assert len(keys) == len(set(keys)) == 1                # the hotline centre, once
        figures("faults injected")                             # worker SIGKILLed while rendering
        figures("faults survived")
        figures("runs left running", 0)
    finally:
        for p in procs:
            stop(p)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        client.delete("hotline:scheduler:leader")


@pytest.mark.redis
def test_failed_run_is_dead_lettered_visible_and_counted(sqlite_db, redis_url, tmp_path):
    """A run that fails for a non-transient reason is not retried: the ledger says why, the message is in
    the dead-letter set (`hotline worker --dead`), and the Prometheus endpoint counts it."""
    import shutil
    import urllib.request

    import redis

    from tests.conftest import free_port

    broken = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", broken)
    (broken / "metrics.yaml").write_text("requirement: [not, a, mapping\n", encoding="utf-8")
    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=namespace, HOTLINE_CONFIG=str(broken),
               dramatiq_prom_port=str(port), dramatiq_prom_db=str(tmp_path / "prom"))
    worker = spawn(["worker", "--processes", "1", "--threads", "1", "--metrics"], env)
    try:
        subprocess.run([sys.executable, "-m", "worker.cli", "run", "weekly_bulletin", "--at", "2026-11-12"],
                       env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=60)
        deadline, state = time.time() + 60, None
        while time.time() < deadline and state != "failed":
            time.sleep(0.3)
            with session_scope() as s:
                state, error = s.execute(select(Run.state, Run.error).where(Run.job == "weekly_bulletin")).one()
        assert state == "failed" and "metrics.yaml" in error
        dead = ""
        for _ in range(30):
            dead = subprocess.run([sys.executable, "-m", "worker.cli", "worker", "--dead"], env=env, cwd=PROJECT_ROOT,
                                  check=True,
                                  capture_output=True, text=True, timeout=60).stdout
            if dead:
                break
            time.sleep(0.5)
        assert f"{namespace}:reports.XQ" in dead
        metrics = ""
        for _ in range(30):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                metrics = resp.read().decode()
            if "dramatiq_message_errors_total" in metrics:
                break
            time.sleep(0.5)
        assert 'dramatiq_message_errors_total{actor_name="weekly_bulletin"' in metrics
    finally:
        stop(worker)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)


@pytest.mark.postgres
@pytest.mark.redis
def test_postgres_connections_dropped_mid_run(postgres_db, history, redis_url, figures):
    """Every connection of the worker is terminated while it renders: the run is retried and completes once."""
    import psycopg
    import redis

    for i in range(400):
        (history.ticket(f"P{i:04d}", "2026-11-12 08:00", phone=f"1360000{i:04d}").dispatch("2026-11-12 09:00", "D20")
         .sign("2026-11-12 10:00", "D20"))
    history.store()
    url = os.environ["DATABASE_URL"]
    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=namespace)
    worker = spawn(["worker", "--processes", "1", "--threads", "1"], env)
    try:
        subprocess.run([sys.executable, "-m", "worker.cli", "run", "daily_sheet", "--at", "2026-11-16 08:30"],
                       env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=60)
        with psycopg.connect(url, autocommit=True) as conn:
            deadline, state = time.time() + 60, None
            while time.time() < deadline and state != "running":
                row = conn.execute("select state from runs where job = 'daily_sheet'").fetchone()
                state = row[0] if row else None
                time.sleep(0.02)
            assert state == "running"
            # The run's own transaction under way (rendering holds it open; the heartbeat's are
            # instants): killing before it began would only hit idle pooled connections.
            deadline, working = time.time() + 60, False
            while time.time() < deadline and not working:
                working = conn.execute(
                    "select count(*) > 0 from pg_stat_activity where datname = current_database() "
                    "and pid <> pg_backend_pid() and xact_start < now() - interval '200 milliseconds'").fetchone()[0]
                time.sleep(0.01)
            assert working
            killed = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                  "where datname = current_database() and pid <> pg_backend_pid()").fetchone()[0]
            assert killed >= 1
            deadline = time.time() + 90
            while time.time() < deadline:
                state, attempts = conn.execute("select state, attempts from runs where job = 'daily_sheet'").fetchone()
                if state in ("succeeded", "failed"):
                    break
                time.sleep(0.5)
        with session_scope() as s:
            documents = s.scalar(select(func.count()).select_from(Document).where(Document.kind == "daily_sheet"))
            letters = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "daily_sheet"))
        observe("every PostgreSQL connection terminated mid-run", lost=int(state != "succeeded" or not letters),
                doubled=max(0, documents - 1) + max(0, letters - 1), stuck=int(state == "running"))
        assert (state, attempts) == ("succeeded", 2)
        assert (documents, letters) == (1, 1)
        figures("faults injected")                             # PostgreSQL connections terminated
        figures("faults survived")
    finally:
        stop(worker)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)


@pytest.mark.redis
def test_health_answers_for_the_scheduler_and_workers_of_this_host(sqlite_db, redis_url, tmp_path):
    """The containers' healthchecks: `hotline health scheduler|worker` exits 0 once a process of that
    role runs on this host, 1 with the reason before it starts and after a worker stops."""
    import redis

    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - name: idle\n    actor: send_outbox\n    cron: \"0 0 1 1 *\"\n",
                         encoding="utf-8")
    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=namespace, HOTLINE_SCHEDULES=str(schedules))

    def health(role):
        return subprocess.run([sys.executable, "-m", "worker.cli", "health", role], check=False, env=env,
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30)

    def until_healthy(role):
        deadline = time.time() + 30
        while time.time() < deadline:
            res = health(role)
            if res.returncode == 0:
                return res
            time.sleep(0.5)
        raise AssertionError(f"{role} never healthy: {res.stderr}")

    for role in ("scheduler", "worker"):
        res = health(role)
        assert res.returncode == 1 and f"unhealthy: no live {role} on" in res.stderr
    procs = [spawn(["scheduler", "--tick", "1"], env), spawn(["worker", "--processes", "1", "--threads", "1"], env)]
    client = redis.Redis.from_url(redis_url)
    try:
        assert until_healthy("scheduler").stdout.strip().endswith(" active")
        assert until_healthy("worker").stdout.startswith("healthy: ")
        # A scheduler that stops answering is unhealthy within 30 s: its word expires.
        assert 0 < client.ttl(f"{namespace}:alive:scheduler:{socket.gethostname()}") <= 30
        procs[1].send_signal(signal.SIGTERM)   # as `docker stop` does: the main process only
        procs[1].wait(timeout=15)
        res = health("worker")
        assert res.returncode == 1 and "unhealthy" in res.stderr, client.keys(f"{namespace}:workers:*")
    finally:
        for proc in procs:
            stop(proc)
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
