"""Supervision's letters rendered in parallel (issue 33, target 4): the supervision run decides the
day's 督办函 and each unit's letter is a run of its own, a part, taken by whichever worker process
is free.  Whoever renders them, the letters are the ones the run decided — one per unit, numbered
莱政办督〔2026〕N号 in the units' order, listing the unit's tickets — each sent once to the unit's head
and liaison, and running the day again changes nothing."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import document_text
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Document, DocumentVersion, OutboxMessage, Person, Run, Unit

AT = "2026-11-13 10:00"
# Eight units, each with one to three tickets dispatched Mon 9 Nov 10:00 and never answered: their
# completion fell due Thu 12 Nov 23:59 (three working days), so on Fri 13 Nov each is 办结超期.
UNITS = ["D01", "D02", "D03", "D04", "D05", "D06", "D07", "D08"]
TICKETS = {unit: [f"S{unit}{k}" for k in range(1 + i % 3)] for i, unit in enumerate(UNITS)}
ALL_TICKETS = [number for numbers in TICKETS.values() for number in numbers]


@pytest.fixture
def overdue(history):
    for unit, numbers in TICKETS.items():
        for k, number in enumerate(numbers):
            (history.ticket(number, "2026-11-09 09:00", phone=f"1390000{unit[1:]}{k:02d}")
             .dispatch("2026-11-09 10:00", unit).sign("2026-11-09 11:00", unit))
    return history.store()


def cli(*args: str):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def the_day() -> dict:
    """What the day's supervision left, as its readers see it: each letter's number and text, and
    the messages about it, by recipient."""
    with session_scope() as s:
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        docs = s.scalars(select(Document).where(Document.kind == "supervision_letter")).all()
        versions = s.scalar(select(func.count()).select_from(DocumentVersion).join(Document)
                            .where(Document.kind == "supervision_letter"))
        messages = s.execute(select(OutboxMessage.recipient_email, OutboxMessage.subject)
                             .where(OutboxMessage.kind == "supervision_letter")).all()
    return {"names": names, "letters": {d.scope: (d.doc_year, d.doc_no, d.sha256) for d in docs},
            "texts": {d.scope: document_text("supervision_letter", d.scope, flat=True) for d in docs},
            "versions": versions, "messages": sorted(messages)}


def expected_recipients(unit: str) -> list[str]:
    """The unit's head and liaison in the directory: whom a letter goes to."""
    with session_scope() as s:
        return sorted(s.scalars(select(Person.email).where(Person.unit_code == unit, Person.email.is_not(None),
                                                           Person.role.in_(["unit_head", "liaison"]))))


def assert_the_letters(day: dict) -> None:
    """One letter a unit, numbered in the units' order, each naming its own tickets; one message per
    person of the unit's head and liaison, naming the unit and the count."""
    assert sorted(day["letters"]) == [f"2026-11-13:{u}" for u in UNITS]
    for n, unit in enumerate(UNITS, 1):
        scope = f"2026-11-13:{unit}"
        text = day["texts"][scope]
        assert day["letters"][scope][:2] == (2026, n)
        assert f"莱政办督〔2026〕{n}号" in text and day["names"][unit] in text
        assert f"下列{len(TICKETS[unit])}件12345热线工单存在办结超期问题" in text
        assert [t for t in ALL_TICKETS if t in text] == TICKETS[unit]   # its own tickets only
    want = sorted((email, f"【督办函】{day['names'][u]}12345热线工单 {len(TICKETS[u])} 件（办结超期）")
                  for u in UNITS for email in expected_recipients(u))
    assert len(want) >= 2 * len(UNITS)          # the sample directory gives each unit a head and a liaison
    assert day["messages"] == want               # each once


def spawn(args, env):
    return subprocess.Popen([sys.executable, "-m", "worker.cli", *args], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def stop(proc):
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_through_workers(env) -> tuple[Run, list[Run]]:
    """``hotline run supervision`` sent to the workers; the run and its parts once all have ended."""
    out = subprocess.run([sys.executable, "-m", "worker.cli", "run", "supervision", "--at", AT], env=env,
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    run_id = int(re.match(r"run (\d+): supervision \S+ queued", out).group(1))
    deadline = time.time() + 120
    while time.time() < deadline:
        with session_scope() as s:
            run = s.get_one(Run, run_id)
            parts = s.scalars(select(Run).where(Run.id.in_((run.summary or {}).get("parts", [0])))).all()
        if run.state in ("succeeded", "failed") and all(p.state in ("succeeded", "failed") for p in parts):
            return run, parts
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} and its parts did not end: {run.state}, {[p.state for p in parts]}")


@pytest.mark.redis
@pytest.mark.postgres
def test_two_worker_processes_render_the_letters_once_each(postgres_db, overdue, redis_url, tmp_path):
    import redis

    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - name: idle\n    actor: send_outbox\n    cron: \"0 0 1 1 *\"\n"
                         "    enabled: false\n", encoding="utf-8")
    env = dict(os.environ, REDIS_URL=redis_url, HOTLINE_REDIS_NAMESPACE=namespace, HOTLINE_SCHEDULES=str(schedules))
    # Two workers, one process each, told apart by their instance names (as two hosts would be).
    workers = [spawn(["worker", "--processes", "1", "--threads", "1"], dict(env, HOTLINE_INSTANCE=name))
               for name in ("worker-a", "worker-b")]
    try:
        run, parts = run_through_workers(env)
        assert run.state == "succeeded" and run.summary["letters"] == len(UNITS), run.error
        assert sorted(p.params["unit"] for p in parts) == UNITS
        assert all(p.state == "succeeded" for p in parts), [p.error for p in parts]
        # Both processes rendered letters: the ledger names the process of each part.
        assert {p.worker.split(":")[0] for p in parts} == {"worker-a", "worker-b"}
        first = the_day()
        assert_the_letters(first)
        assert first["versions"] == len(UNITS)

        again, parts_again = run_through_workers(env)             # the same day again, through the workers
        assert again.id == run.id and sorted(p.id for p in parts_again) == sorted(p.id for p in parts)
        assert all(p.state == "succeeded" for p in parts_again)
        assert the_day() == first                                   # no new number, version or message
    finally:
        for w in workers:
            stop(w)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
    assert "supervision_letter" in cli("run", "supervision", "--inline", "--at", AT)   # and in this process
    assert the_day() == first


def test_inline_renders_every_letter_after_the_run(sqlite_db, overdue):
    out = cli("run", "supervision", "--inline", "--at", AT)
    assert_the_letters(the_day())
    # The run, then each letter's part with its document, as the ledger has them.
    assert re.search(r"^run \d+: supervision 2026-11-13 succeeded$", out, re.MULTILINE), out
    assert len(re.findall(r"^  run \d+: supervision_letter 2026-11-13 D0\d succeeded\n    document: \S+v1\.pdf$",
                          out, re.MULTILINE)) == len(UNITS), out
    with session_scope() as s:
        parent = s.scalars(select(Run).where(Run.job == "supervision")).one()
    listed = cli("runs", "--job", "supervision_letter").splitlines()
    assert len([line for line in listed if f"part of run {parent.id}" in line]) == len(UNITS)
    assert any(f"manual:supervision/{u}" in line for line in listed for u in UNITS)


def test_the_preview_shows_every_letter_and_message_and_keeps_nothing(sqlite_db, overdue, tmp_path):
    out = cli("run", "supervision", "--dry-run", "--at", AT, "--out", str(tmp_path / "preview"))
    messages = sum(len(expected_recipients(u)) for u in UNITS)
    assert f"{len(UNITS)} document(s)" in out and f"{messages} message(s)" in out, out
    assert len(list((tmp_path / "preview" / "outbox").glob("*.eml"))) == messages
    assert len(list((tmp_path / "preview" / "documents" / "supervision_letter").glob("*/v1.pdf"))) == len(UNITS)
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 0
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_a_letter_whose_message_was_lost_is_sent_again_by_the_sweep(sqlite_db, overdue, tmp_path, monkeypatch):
    """The run committed its decision but its parts never reached a worker (the broker was down): the
    letters wait in the ledger, and the scheduler's sweep sends them again like any run nobody took."""
    import worker.scheduler
    from tests.test_scheduler import Clock
    from worker.dispatch import run_here
    from worker.jobs import execute, manual_run
    from worker.scheduler import Scheduler

    def broker_down(job, run_id):
        raise ConnectionError("Redis unavailable")

    monkeypatch.setattr(worker.scheduler, "REQUEUE_AFTER", timedelta(seconds=30))
    with session_scope() as s:
        run_id = manual_run(s, "supervision", datetime.fromisoformat(AT)).id
    assert execute(run_id, send=broker_down) == "succeeded"
    with session_scope() as s:
        waiting = s.scalars(select(Run).where(Run.job == "supervision_letter")).all()
        assert len(waiting) == len(UNITS) and {p.state for p in waiting} == {"queued"}
        assert s.scalar(select(func.count()).select_from(Document).where(Document.path != "")) == 0
        sent_at = max(p.enqueued_at for p in waiting)
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  - name: idle\n    actor: send_outbox\n    cron: \"0 0 1 1 *\"\n"
                    "    enabled: false\n", encoding="utf-8")
    resent: list[int] = []

    def enqueue(run):   # a worker takes each as it is sent
        resent.append(run.id)
        run_here(run.id)

    sched = Scheduler(path, redis_url=None, enqueue=enqueue, clock=Clock(sent_at + timedelta(seconds=61)))
    sched.tick()
    assert sorted(resent) == sorted(p.id for p in waiting)
    assert_the_letters(the_day())
