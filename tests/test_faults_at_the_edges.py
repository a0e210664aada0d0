"""Nothing lost, doubled or stuck at the edges (issue 32): poison addresses, a relay too slow for the
tick or for the reclaim window, a frozen holder of row locks, clock steps, replicas with different
schedules, a broken calendar under the workers, an alert that must outlive the fault it reports, a
full disk under the ``.eml`` outbox.  Each test counts what it saw (``tests/faults.py``) before it
asserts; ``bench/reliability.py`` prints those counts."""
from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from tests.conftest import SMTPSink, free_port
from tests.faults import at_relay, mail_counts, observe, outbox_rows, slot_counts
from tests.test_reliability import _quiet
from worker.cli import main
from worker.config import PROJECT_ROOT, load_settings
from worker.db import session_factory, session_scope
from worker.models import OutboxMessage, Run


class SlowRelay(SMTPSink):
    """The test relay, answering MAIL, RCPT and DATA each after ``delay`` seconds, and not at all
    while ``gate`` is clear (the greeting and EHLO come at once)."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller

        super().__init__(port)
        inner, relay = self.controller.handler, self
        self.delay, self.gate = 0.0, threading.Event()
        self.gate.set()

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                await relay.pause()
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 OK"

            async def handle_RCPT(self, *args):
                await relay.pause()
                return await inner.handle_RCPT(*args)

            async def handle_DATA(self, *args):
                await relay.pause()
                return await inner.handle_DATA(*args)

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    async def pause(self):
        await asyncio.sleep(self.delay)
        while not self.gate.is_set():
            await asyncio.sleep(0.05)


@pytest.fixture
def relay(monkeypatch):
    port = free_port()
    sink = SlowRelay(port).start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_RATE", "0")
    yield sink
    sink.gate.set()
    sink.stop()


def queue(addresses: list[str], kind: str = "supervision") -> list[int]:
    """One letter to each address, as a job would queue it; the rows' ids."""
    from worker.mail import enqueue

    with session_scope() as s:
        for i, address in enumerate(addresses):
            enqueue(s, idem_key=f"test|{kind}|{i}|{address}", kind=kind, email=address, name="单位负责人",
                    role="unit_head", subject="督办函", text="请于三个工作日内办结。", html="<p>请于三个工作日内办结。</p>",
                    sender=load_settings().smtp["sender"])
    return [r.id for r in outbox_rows(kind)]


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


# -- a poison address -------------------------------------------------------------------------
POISON = ["张三@example.gov.cn",                                   # a non-ASCII local part
          "li@" + "长" * 64 + ".中国",                               # an IDN that cannot be encoded
          "head.d01@example.gov.cn, head.d02@example.gov.cn",       # a comma list
          "head.d03@example.gov.cn\r\nBcc: everyone@example.gov.cn"]  # CR/LF


def test_poison_addresses_fail_with_their_reason_and_the_batch_goes_on(sqlite_db, relay):
    good = ["head.d04@example.gov.cn", "li@例子.中国"]   # the IDN one is sent under its ASCII name
    ids = queue([good[0], *POISON, good[1]])
    preview = CliRunner().invoke(main, ["outbox", "send", "--dry-run"])
    assert preview.exit_code == 0 and "preview: 2 message(s) written" in preview.output
    assert preview.output.count("would fail: ") == len(POISON)
    res = CliRunner().invoke(main, ["outbox", "send"])
    rows = {r.id: r for r in outbox_rows()}
    letters = [rows[i] for i in ids]
    alerts = [m for _, m in relay.messages if str(m["Subject"]).startswith("【告警】")]
    told = {i for i in ids for m in alerts if f"邮件 {i}（" in body(m)}
    counts = mail_counts(relay.messages, {r.message_id for r in letters if r.recipient_email in good})
    poison_rows = [r for r in letters if r.recipient_email in POISON]
    counts["lost"] += sum(1 for r in poison_rows if r.state != "failed" or r.id not in told)   # silently dropped
    observe("poison addresses (non-ASCII, bad IDN, comma list, CR/LF)", **counts,
            failed_with_reason=sum(1 for r in poison_rows if r.state == "failed" and r.last_error))
    assert counts == {"lost": 0, "doubled": 0, "stuck": 0}
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output   # no crash
    reasons = {r.recipient_email: r.last_error for r in poison_rows}
    assert "is not ASCII" in reasons[POISON[0]]               # the one rule's words (worker/addresses.py)
    assert "cannot be encoded for DNS" in reasons[POISON[1]]
    assert "is a list of addresses" in reasons[POISON[2]]
    assert "line break" in reasons[POISON[3]]
    envelopes = [to for to, m in relay.messages if m not in alerts]
    assert envelopes == [["head.d04@example.gov.cn"], ["li@" + "例子.中国".encode("idna").decode()]]
    assert {to[0] for to, m in relay.messages if m in alerts} == {"ops@example.gov.cn"}
    assert told == {r.id for r in poison_rows}   # each poison message alerted, with its reason
    assert "refused: 张三@example.gov.cn: cannot be sent" in res.output


def test_message_ids_are_under_the_senders_own_domain(sqlite_db, relay, monkeypatch):
    monkeypatch.setenv("SMTP_FROM", "notices@rexian.qingdao.gov.cn")
    queue(["head.d04@example.gov.cn"])
    assert CliRunner().invoke(main, ["outbox", "send"]).exit_code == 0
    (message_id,) = at_relay(relay.messages)
    assert message_id.endswith("@rexian.qingdao.gov.cn>") and "hotline.example.gov.cn" not in message_id


# -- the relay and the time ---------------------------------------------------------------------
def _owners(tmp_path, monkeypatch, n: int) -> list[str]:
    """A copy of the config folder whose alerts.yaml names N owners."""
    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    owners = [f"ops{i:03d}@example.gov.cn" for i in range(n)]
    (folder / "alerts.yaml").write_text("default: [" + ", ".join(owners) + "]\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    return owners


def test_a_relay_that_never_answers_makes_no_slot_late(sqlite_db, relay, tmp_path, monkeypatch):
    """Alerts for 40 owners wait while the relay answers nothing: the scheduler's passes go on, every
    slot fires on time (none skipped as "missed while down"); the outbox sends the alerts later."""
    from worker import tasks  # noqa: F401 — registers the jobs
    from worker.alerts import alert_now
    from worker.scheduler import Scheduler
    from worker.times import TZ

    owners = _owners(tmp_path, monkeypatch, 40)
    monkeypatch.setenv("SMTP_TIMEOUT", "8")
    alert_now("test", "测试告警", ["一条待发的告警。"], sender=load_settings().smtp["sender"])
    relay.gate.clear()                                  # greets, then never answers
    path = tmp_path / "s.yaml"
    path.write_text('schedules:\n  - name: often\n    actor: send_outbox\n    cron: "* * * * * */2"\n'
                    "    misfire: skip\n", encoding="utf-8")

    def done(run):
        with session_scope() as s:
            s.execute(update(Run).where(Run.id == run.id).values(state="succeeded"))

    sched = Scheduler(path, redis_url=None, enqueue=done, tolerance=timedelta(seconds=2))
    until = time.monotonic() + 14
    while time.monotonic() < until:
        sched.tick()
        time.sleep(sched.seconds_to_wait(datetime.now(TZ).replace(tzinfo=None)))
    sched.tick()                                        # the last pass records whatever it found missed
    slots = slot_counts("often")
    relay.gate.set()
    res = CliRunner().invoke(main, ["run", "send_outbox", "--inline"])      # the outbox sends them
    counts = mail_counts(relay.messages, {r.message_id for r in outbox_rows("alert")})
    counts["lost"] += slots["skipped"]                  # slots skipped as missed while the scheduler ran
    counts["stuck"] += slots["unfinished"]
    observe("relay answers nothing while alerts wait for 40 owners (scheduler tick)", **counts,
            slots_fired=slots["fired"])
    assert counts == {"lost": 0, "doubled": 0, "stuck": 0} and slots["fired"] >= 5
    assert res.exit_code == 0, res.output
    assert {to[0] for to, _ in relay.messages} == set(owners)


def test_the_scheduler_process_sends_alerts_beside_its_tick(sqlite_db, relay, tmp_path, monkeypatch):
    """No worker runs: the scheduler process's courier sends the alerts, its tick never does."""
    import worker.scheduler
    from worker.alerts import alert_now
    from worker.scheduler import Scheduler

    monkeypatch.setattr(worker.scheduler, "COURIER_SECONDS", 0.2)
    path = tmp_path / "s.yaml"
    path.write_text('schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: "30 8 * * *"\n', encoding="utf-8")
    sched = Scheduler(path, redis_url=None, enqueue=lambda run: None)
    alert_now("test", "测试告警", ["一条待发的告警。"], sender=load_settings().smtp["sender"])
    sched.tick()
    assert relay.messages == []                          # the tick only enqueues
    courier = threading.Thread(target=sched._courier, daemon=True)
    courier.start()
    deadline = time.monotonic() + 20
    while any(r.state != "sent" for r in outbox_rows("alert")) and time.monotonic() < deadline:
        time.sleep(0.1)
    sched.stop_event.set()
    courier.join(10)
    alerts = outbox_rows("alert")
    assert {r.state for r in alerts} == {"sent"} and len(relay.messages) == len(alerts)
    assert {to[0] for to, _ in relay.messages} == {"ops@example.gov.cn"}


def test_a_relay_slower_than_the_reclaim_window_never_gets_a_message_twice(sqlite_db, relay, monkeypatch):
    """Each command answered after 2 s: one message takes 6 s, longer than a 4-second reclaim
    window.  The send is cut off at its deadline (half the window) and deferred, so a second sender
    finds nothing to reclaim; once the relay is quick again the message goes, once."""
    from worker.delivery import deliver

    monkeypatch.setenv("SMTP_TIMEOUT", "3")           # every read is answered within it
    relay.delay = 2.0
    (row_id,) = queue(["head.d04@example.gov.cn"])
    settings, window = load_settings(), timedelta(seconds=4)
    reports = []
    first = threading.Thread(target=lambda: reports.append(
        deliver(session_factory(), settings.smtp, settings.outbox_dir, stale_after=window)))
    first.start()
    time.sleep(5.5)                                   # the first claim is now older than the window
    reports.append(deliver(session_factory(), settings.smtp, settings.outbox_dir, stale_after=window))
    first.join(30)
    relay.delay = 0.0
    with session_scope() as s:                        # the backoff over: the message is due again
        s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.state == "pending")
                  .values(not_before=datetime(2000, 1, 1)))
    reports.append(deliver(session_factory(), settings.smtp, settings.outbox_dir, stale_after=window))
    (row,) = outbox_rows()
    counts = mail_counts(relay.messages, {row.message_id})
    observe("relay slower than the reclaim window (6 s a message, 4 s window)", **counts)
    assert counts == {"lost": 0, "doubled": 0, "stuck": 0} and row.state == "sent"
    assert sorted(r.deferred for r in reports[:2]) == [0, 1]      # cut off at its deadline, not reclaimed
    with session_scope() as s:
        assert s.get(OutboxMessage, row_id).attempts == 2


# -- PostgreSQL sessions ------------------------------------------------------------------------
@pytest.mark.postgres
def test_a_statement_behind_a_frozen_lock_gives_up_and_the_scheduler_pass_goes_on(postgres_db, tmp_path, monkeypatch):
    """A frozen session holds a running run's row lock: the scheduler's sweep, which updates that
    row, gives up after ``lock_timeout`` and the pass ends; it does not hang behind the holder."""
    from worker import db, runs, tasks  # noqa: F401 — registers the jobs
    from worker.scheduler import Scheduler

    monkeypatch.setenv("HOTLINE_PG_LOCK_TIMEOUT", "1s")
    db.get_engine.cache_clear()
    with session_scope() as s:
        run = runs.create(s, schedule="manual:daily_sheet", nominal_at=datetime(2026, 11, 13, 8, 30), job="daily_sheet",
                          period_key="2026-11-13", params={})
        run.state, run.started_at, run.heartbeat_at = "running", datetime(2026, 11, 13, 8, 30), datetime(2026, 11, 13, 8, 30)
        s.commit()
        run_id = run.id
    holder = session_factory()()
    holder.execute(text("select id from runs where id = :i for update"), {"i": run_id})   # then freezes
    path = tmp_path / "s.yaml"
    path.write_text('schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: "30 8 * * *"\n', encoding="utf-8")
    sched = Scheduler(path, redis_url=None, enqueue=lambda run: None)
    passed = threading.Thread(target=lambda: _quiet(sched.tick))   # gives up with a lock timeout
    passed.start()
    passed.join(20)
    hung = passed.is_alive()
    holder.rollback()
    holder.close()
    passed.join(30)
    observe("scheduler pass behind a frozen row lock (PostgreSQL)", lost=0, doubled=0, stuck=int(hung))
    assert not hung
    sched.tick()                                        # the lock gone, the sweep does its work
    with session_scope() as s:
        assert s.get(Run, run_id).state in ("queued", "failed")


# -- the clock ----------------------------------------------------------------------------------
STEP_SCHEDULES = """
schedules:
  - name: catch
    actor: send_outbox
    cron: "* * * * *"
    misfire: catch_up
    grace_minutes: 30
  - name: skipper
    actor: send_outbox
    cron: "*/5 * * * *"
    misfire: skip
"""


def test_a_clock_stepped_forward_and_back_records_no_future_slot(sqlite_db, tmp_path, caplog):
    """The wall clock jumps an hour ahead, then back: no slot of that hour is recorded as missed or
    run early, the step is logged and alerted, and the slots fire when their time really comes."""
    from tests.test_scheduler import Clock, ledger, make_scheduler

    path = tmp_path / "s.yaml"
    path.write_text(STEP_SCHEDULES, encoding="utf-8")
    wall, elapsed, fired = Clock(datetime(2026, 11, 16, 9, 59, 55)), [0.0], []
    sched = make_scheduler(path, wall, fired, elapsed=lambda: elapsed[0])

    def at(wall_time: datetime, seconds: float):
        wall.now, elapsed[0] = wall_time, seconds
        sched.tick()

    start = datetime(2026, 11, 16, 9, 59, 55)          # the elapsed clock counts from here
    at(start, 0)
    at(datetime(2026, 11, 16, 10, 0, 5), 10)
    at(datetime(2026, 11, 16, 11, 0, 10), 15)         # stepped an hour forward
    at(datetime(2026, 11, 16, 11, 0, 20), 25)
    at(datetime(2026, 11, 16, 10, 0, 30), 35)         # and back
    for minute in range(1, 6):                        # the minutes then really pass
        moment = datetime(2026, 11, 16, 10, minute, 3)
        at(moment, (moment - start).total_seconds())
    rows = [(s, f"{t:%H:%M}", state) for s, t, state, _ in ledger() if not s.startswith("scheduler:")]
    early = [r for r in rows if r[1] > "10:05"]
    skipped = [r for r in rows if r[2] == "skipped"]
    expected = [("catch", f"10:0{m}", "succeeded") for m in range(6)] + [("skipper", "10:00", "succeeded"),
                                                                       ("skipper", "10:05", "succeeded")]
    missing = set(expected) - set(rows)
    observe("wall clock stepped an hour forward, then back", lost=len(missing) + len(skipped), doubled=len(early),
            stuck=0)
    assert sorted(rows) == sorted(expected)
    assert "stepped forward by 1:00:0" in caplog.text
    with session_scope() as s:
        subjects = s.scalars(select(OutboxMessage.subject).where(OutboxMessage.kind == "alert")).all()
    assert any("时钟被向前调整" in x for x in subjects)


def test_a_clock_stepped_back_fires_nothing_twice(sqlite_db, tmp_path, caplog):
    from tests.test_scheduler import Clock, ledger, make_scheduler

    path = tmp_path / "s.yaml"
    path.write_text(STEP_SCHEDULES, encoding="utf-8")
    start = datetime(2026, 11, 16, 9, 59, 55)
    wall, elapsed, fired = Clock(start), [0.0], []
    sched = make_scheduler(path, wall, fired, elapsed=lambda: elapsed[0])
    sched.tick()
    for minute in range(4):
        wall.now, elapsed[0] = datetime(2026, 11, 16, 10, minute, 5), minute * 60.0 + 10
        sched.tick()
    wall.now, elapsed[0] = datetime(2026, 11, 16, 10, 0, 10), 195.0     # three minutes back (10:03:10 really)
    sched.tick()
    for minute in range(1, 6):
        wall.now, elapsed[0] = datetime(2026, 11, 16, 10, minute, 10), 195.0 + minute * 60
        sched.tick()
    slots = [(s, t) for s, t, _, _ in ledger() if s == "catch"]
    doubled = len(fired) - len(set(fired))
    observe("wall clock stepped three minutes back", lost=6 - len(slots), doubled=doubled, stuck=0)
    assert [f"{t:%H:%M}" for _, t in slots] == [f"10:0{m}" for m in range(6)] and doubled == 0
    assert "stepped back by 0:03:00" in caplog.text


# -- replicas, calendar, the alert of a fault ---------------------------------------------------
@pytest.mark.redis
def test_replicas_with_different_schedules_are_reported(sqlite_db, redis_url, tmp_path, monkeypatch):
    import uuid

    import redis

    from worker.scheduler import Scheduler

    namespace = f"hotline-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOTLINE_REDIS_NAMESPACE", namespace)
    a_file, b_file = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a_file.write_text('schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: "30 8 * * *"\n', encoding="utf-8")
    b_file.write_text('schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: "45 8 * * *"\n', encoding="utf-8")
    a = Scheduler(a_file, redis_url=redis_url, enqueue=lambda run: None)
    b = Scheduler(b_file, redis_url=redis_url, enqueue=lambda run: None)
    client = redis.Redis.from_url(redis_url)
    try:
        a.reload_if_changed()
        b.reload_if_changed()
        assert a.step() and not b.step()
        value = client.get(f"{namespace}:scheduler:leader").decode()
        b.step()                                             # reported once
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
    assert value == f"{a.lease.token}|{a.version}" and a.version != b.version
    with session_scope() as s:
        alerts = s.scalars(select(OutboxMessage.body_text).where(
            OutboxMessage.kind == "alert", OutboxMessage.subject.contains("schedules.yaml 版本不一致"))).all()
        recorded = s.scalars(select(Run.error).where(Run.schedule == "scheduler:config")).all()
    observe("replicas running different schedules.yaml", lost=0, doubled=0, stuck=0, reported=len(alerts))
    assert len(alerts) == 1 and a.version in alerts[0] and b.version in alerts[0]
    assert len(recorded) == 1 and "different versions of schedules.yaml" in recorded[0]


def test_workers_keep_the_last_valid_calendar(sqlite_db, history, tmp_path, monkeypatch, caplog):
    """A broken calendar.yaml edit: the worker's jobs go on with the calendar it read before, and
    say so; the checks that report the file (calendar check) still refuse it."""
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text((PROJECT_ROOT / "calendar.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CALENDAR", str(calendar))
    history.ticket("C1", "2026-11-09 08:00").dispatch("2026-11-09 09:00", "D01")
    history.store()
    first = CliRunner().invoke(main, ["run", "daily_sheet", "--inline", "--at", "2026-11-12 08:30"])
    calendar.write_text("years:\n  2026: [broken\n", encoding="utf-8")
    os.utime(calendar, (time.time() + 5, time.time() + 5))
    second = CliRunner().invoke(main, ["run", "daily_sheet", "--inline", "--at", "2026-11-13 08:30"])
    check = CliRunner().invoke(main, ["calendar", "check"])
    with session_scope() as s:
        states = s.scalars(select(Run.state).where(Run.job == "daily_sheet").order_by(Run.id)).all()
    observe("calendar.yaml broken under the workers", lost=sum(1 for st in states if st != "succeeded"), doubled=0,
            stuck=0)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert states == ["succeeded", "succeeded"]
    assert "keeping the last valid calendar" in caplog.text and "not valid YAML" in caplog.text
    assert check.exit_code != 0 and "not valid YAML" in check.output


@pytest.mark.postgres
def test_the_alert_of_a_fault_survives_the_fault(postgres_db, tmp_path):
    """The runs' sequence is behind its table (after a crash): firing a slot fails, and so would any
    ledger row; the alert is written in a transaction of its own and is there.  Once the sequence is
    repaired, the slot fires (not lost)."""
    from tests.test_scheduler import Clock, make_scheduler
    from worker import runs

    with session_scope() as s:
        taken = [runs.create(s, schedule="other", nominal_at=datetime(2026, 11, day), job="daily_sheet",
                             period_key=f"2026-11-{day:02d}", params={}) for day in range(1, 6)]
        s.commit()
        s.execute(text("select setval(pg_get_serial_sequence('runs', 'id'), :v, false)"), {"v": taken[0].id})
        s.commit()
    path = tmp_path / "s.yaml"
    path.write_text('schedules:\n  - name: sheet\n    actor: daily_sheet\n    cron: "30 8 * * *"\n', encoding="utf-8")
    clock, fired = Clock(datetime(2026, 11, 16, 8, 29, 50)), []
    sched = make_scheduler(path, clock, fired)
    sched.tick()
    clock.now = datetime(2026, 11, 16, 8, 30, 5)
    sched.tick()                                           # the insert hits the sequence
    with session_scope() as s:
        alerted = s.scalars(select(OutboxMessage.body_text).where(OutboxMessage.kind == "alert")).all()
        s.execute(text("select setval(pg_get_serial_sequence('runs', 'id'), (select max(id) from runs))"))
        s.commit()
    clock.now = datetime(2026, 11, 16, 8, 30, 40)
    sched.tick()
    slots = slot_counts("sheet")
    observe("the alert of a schedule hitting a sequence behind its table (PostgreSQL)",
            lost=int(not any("IntegrityError" in b for b in alerted)) + (1 - slots["fired"]),
            doubled=max(0, len(fired) - 1), stuck=0)
    assert any("schedule 'sheet'" in b and "IntegrityError" in b for b in alerted)
    assert fired == [("sheet", datetime(2026, 11, 16, 8, 30))]


# -- a full disk under the .eml outbox -----------------------------------------------------------
def _limited(max_bytes: int):
    def apply():   # in the child: files may not grow beyond MAX_BYTES (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, resource.RLIM_INFINITY))
    return apply


@pytest.mark.postgres
def test_a_full_disk_leaves_no_empty_eml_and_no_message_sending(postgres_db, tmp_path):
    """``hotline outbox send`` without a relay writes .eml files.  The disk takes nothing: no file
    appears under a final name (not even empty), the messages wait; space back, each is written once."""
    ids = queue(["head.d04@example.gov.cn", "head.d05@example.gov.cn"])
    outbox = load_settings().outbox_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    full = subprocess.run([sys.executable, "-m", "worker.cli", "outbox", "send"], check=False, env=env,
                          cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, preexec_fn=_limited(0))
    after_full = {p.name: p.stat().st_size for p in outbox.glob("*")} if outbox.exists() else {}
    states_full = [r.state for r in outbox_rows()]
    errors_full = [r.last_error for r in outbox_rows() if r.last_error]
    with session_scope() as s:                        # space is back and the backoff over
        s.execute(update(OutboxMessage).values(not_before=datetime(2000, 1, 1)))
    again = subprocess.run([sys.executable, "-m", "worker.cli", "outbox", "send"], check=False, env=env,
                          cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=120)
    files = sorted(outbox.glob("*.eml"))
    rows = outbox_rows()
    observe("full disk under the .eml outbox", lost=sum(1 for r in rows if r.state != "sent"),
            doubled=max(0, len(files) - len(ids)),
            stuck=states_full.count("sending") + len(after_full))
    assert "Traceback" not in full.stderr, full.stderr
    assert after_full == {} and states_full == ["pending", "pending"]     # no file, not even an empty one
    assert "could not write the .eml file" in errors_full[0] and "File too large" in errors_full[0]
    assert again.returncode == 0, again.stderr
    assert [f.name for f in files] == [f"{i:06d}-supervision.eml" for i in ids]
    assert all(f.stat().st_size > 500 for f in files) and {r.state for r in rows} == {"sent"}
