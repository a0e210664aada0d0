"""Nothing sent by mistake, doubled, or stuck behind another message (issues 17 and 18)."""
from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.faults import mail_counts, observe, outbox_rows
from worker.cli import main
from worker.db import session_factory, session_scope
from worker.models import Document, OutboxMessage, Run

JOBS = [("daily_sheet", "2026-11-13 08:30"), ("law_push", "2026-11-13 09:00"), ("supervision", "2026-11-13 10:00"),
        ("weekly_bulletin", "2026-11-12 10:00"), ("escalation_weekly", "2026-11-12 10:00"),
        ("monthly_analysis", "2026-10-20 10:00"), ("escalation_monthly", "2026-10-20 10:00"),
        ("quarterly_report", "2026-09-20 10:00")]


def cli(*args):
    return CliRunner().invoke(main, list(args))


def counts():
    with session_scope() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Run, Document, OutboxMessage))


def test_dry_run_of_every_job_keeps_nothing_and_queues_nothing(failing_every_week, tmp_path):
    for job, at in JOBS:
        res = cli("run", job, "--inline", "--dry-run", "--at", at, "--out", str(tmp_path / job))
        assert res.exit_code == 0, res.output
        assert "nothing kept, nothing queued for sending" in res.output
        assert counts() == (0, 0, 0), job
    assert list((tmp_path / "weekly_bulletin" / "documents" / "weekly_bulletin").rglob("*.pdf"))
    assert list((tmp_path / "escalation_weekly" / "outbox").glob("*.eml"))
    res = cli("replay", "--from", "2026-10-05", "--to", "2026-10-20", "--out", str(tmp_path / "replay"))
    assert res.exit_code == 0, res.output
    assert counts() == (0, 0, 0)


def test_a_dry_run_writes_only_its_own_messages(failing_every_week, tmp_path):
    """Issue 33 (5): four notices of the ladder wait in the outbox (unit head, leader in charge,
    principal leader, centre); a preview of the daily sheet writes the sheet's one message, to the
    centre's only person of the directory (db/seed/district.yaml: 潘永强, center@example.gov.cn) —
    not the four — and a preview of the same day again writes it again."""
    assert cli("run", "escalation_weekly", "--inline", "--at", "2026-09-30 10:00").exit_code == 0
    with session_scope() as s:
        waiting = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "pending"))
    assert waiting == 4
    for out in (tmp_path / "a", tmp_path / "b"):
        res = cli("run", "daily_sheet", "--inline", "--dry-run", "--at", "2026-11-13 08:30", "--out", str(out))
        assert res.exit_code == 0, res.output
        assert "1 message(s) as .eml" in res.output
        (eml,) = (out / "outbox").glob("*.eml")
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert eml.name.endswith("-daily_sheet.eml") and message["To"].addresses[0].addr_spec == "center@example.gov.cn"
    res = cli("replay", "--from", "2026-11-13", "--to", "2026-11-13", "--out", str(tmp_path / "replay"))
    assert res.exit_code == 0, res.output
    kinds = {p.name.split("-", 1)[1] for p in (tmp_path / "replay" / "outbox").glob("*.eml")}
    assert "daily_sheet.eml" in kinds and "escalation_weekly.eml" not in kinds and "interview_notice.eml" not in kinds
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 4


def test_manual_run_without_at_reports_the_last_complete_week(failing_every_week, tmp_path):
    # The clock says Monday 21 Dec 2026: the last complete week is 14-20 Dec, never the week under way.
    res = cli("run", "weekly_bulletin", "--inline", "--dry-run", "--out", str(tmp_path))
    assert res.exit_code == 0 and "weekly_bulletin 2026-W51" in res.output, res.output
    res = cli("run", "weekly_bulletin", "--inline", "--at", "2026-12-22 10:00")
    assert res.exit_code == 2 and "2026-W52" in res.output and "has not ended yet" in res.output
    assert counts() == (0, 0, 0)


def test_held_messages_wait_and_cancelled_ones_never_go(failing_every_week, smtp):
    assert cli("run", "escalation_weekly", "--inline", "--at", "2026-09-30 10:00").exit_code == 0
    with session_scope() as s:
        ids = s.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
        run_id = s.scalar(select(OutboxMessage.run_id))
    assert len(ids) == 4           # unit head, leader in charge, principal leader, centre
    res = cli("outbox", "hold", "--run", str(run_id), "--by", "ops-li")
    assert res.exit_code == 0 and "4 message(s) held by ops-li" in res.output
    assert cli("outbox", "send").exit_code == 0 and smtp.messages == []
    assert "held by ops-li at" in cli("outbox").output
    res = cli("outbox", "cancel", str(ids[0]), "--by", "ops-li")
    assert f"{ids[0]}: held → cancelled" in res.output
    assert cli("outbox", "release", *map(str, ids[1:]), "--by", "ops-wang").exit_code == 0
    assert cli("outbox", "send").exit_code == 0
    assert len(smtp.messages) == 3
    with session_scope() as s:
        first = s.get(OutboxMessage, ids[0])
        assert (first.state, first.operator) == ("cancelled", "ops-li")
    res = cli("outbox", "hold", str(ids[1]))                  # already sent: left alone
    assert res.exit_code == 1 and f"{ids[1]}: left sent" in res.output


def _letters(history, n=6):
    for i in range(n):
        history.ticket(f"Q{i}", "2026-11-09 08:00", phone=f"1380000{i:04d}").dispatch("2026-11-09 09:00", f"D0{i + 1}")
    history.store()
    res = cli("run", "supervision", "--inline", "--at", "2026-11-13 10:00")
    assert res.exit_code == 0, res.output


def test_a_recipient_refused_for_good_fails_that_message_and_the_batch_goes_on(sqlite_db, history, smtp, figures):
    _letters(history)
    with session_scope() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        refused = rows[0].recipient_email
    smtp.refuse_rcpt = {refused: f"550 5.1.1 <{refused}>: mailbox unavailable"}
    res = cli("outbox", "send")
    letters = [r for r in outbox_rows() if r.kind != "alert"]
    counts = mail_counts(smtp.messages, {r.message_id for r in letters if r.recipient_email != refused})
    counts["lost"] += sum(1 for r in letters if r.recipient_email == refused and r.state != "failed")
    observe("one recipient refused for good (550)", **counts)
    assert counts == {"lost": 0, "doubled": 0, "stuck": 0}
    assert res.exit_code == 1 and f"refused: {refused}: 550 5.1.1" in res.output
    with session_scope() as s:
        states = dict(s.execute(select(OutboxMessage.recipient_email, OutboxMessage.state)).all())
    assert states.pop(refused) == "failed" and set(states.values()) == {"sent"}
    letters = [m for _, m in smtp.messages if not str(m["Subject"]).startswith("【告警】")]
    assert len(letters) == len(rows) - 1
    # The owners are told, by an alert the same pass sends: the refused address and the reply.
    alerts = [(to, m) for to, m in smtp.messages if str(m["Subject"]).startswith("【告警】邮件被邮件服务器永久拒收")]
    assert [to for to, _ in alerts] == [["ops@example.gov.cn"]]
    assert refused in alerts[0][1].get_body(("plain",)).get_content()
    figures("faults injected")
    figures("faults survived")


def test_a_relay_that_never_answers_times_out_without_locking_the_database(sqlite_db, history, monkeypatch, figures):
    _letters(history, 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)                          # accepts the connection, never says a word
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(silent.getsockname()[1]))
    monkeypatch.setenv("SMTP_TIMEOUT", "2")
    done = {}
    sender = threading.Thread(target=lambda: done.setdefault("res", cli("outbox", "send")))
    started = time.monotonic()
    sender.start()
    time.sleep(0.5)
    # Meanwhile the database is free: another writer commits at once.
    with session_factory()() as other:
        other.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == -1).values(attempts=0))
        other.commit()
    assert time.monotonic() - started < 1.5
    sender.join(30)
    silent.close()
    rows = outbox_rows()
    observe("relay accepts TCP and never answers", lost=sum(1 for r in rows if r.state not in ("pending", "sent")),
            doubled=0, stuck=sum(1 for r in rows if r.state == "sending") + int(sender.is_alive()))
    assert not sender.is_alive() and time.monotonic() - started < 10
    assert "deferred 1" in done["res"].output
    with session_scope() as s:
        states = s.scalars(select(OutboxMessage.state)).all()
        errors = s.scalars(select(OutboxMessage.last_error).where(OutboxMessage.last_error.is_not(None))).all()
    assert set(states) == {"pending"} and errors and "SMTP unavailable" in errors[0]
    figures("faults injected")
    figures("faults survived")


@pytest.mark.postgres
def test_two_overlapping_senders_deliver_each_message_once(postgres_db, history, smtp, figures):
    _letters(history, 9)
    smtp_slow = smtp
    with session_scope() as s:
        expected = s.scalar(select(func.count()).select_from(OutboxMessage))
    assert expected >= 18
    from worker.config import load_settings
    from worker.delivery import deliver

    settings = load_settings()
    smtp_cfg = dict(settings.smtp, rate_per_second=20)       # slow enough for the two to overlap
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(deliver(session_factory(), smtp_cfg, settings.outbox_dir,
                                                                      stale_after=timedelta(seconds=1))))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = smtp_slow.by_id()
    observe("two senders overlapping (PostgreSQL)", **mail_counts(smtp.messages, {r.message_id for r in outbox_rows()}))
    assert sum(r.sent for r in reports) == expected and all(r.sent for r in reports)   # both worked
    assert len(ids) == expected and set(ids.values()) == {1}
    figures("messages expected", expected)
    figures("messages delivered", len(ids))
    figures("messages duplicated", sum(n - 1 for n in ids.values()))
    figures("messages lost", expected - len(ids))


def test_every_version_sent_is_kept_and_can_be_got_back(sqlite_db, history, tmp_path):
    import hashlib

    from worker.models import DocumentVersion

    (history.ticket("V1", "2026-11-09 08:00").dispatch("2026-11-09 09:00", "D01").sign("2026-11-09 10:00", "D01")
     .reply("2026-11-10 10:00", "D01").callback("2026-11-11 10:00"))
    history.store()
    assert cli("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00").exit_code == 0
    assert cli("outbox", "send").exit_code == 0
    with session_scope() as s:
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "weekly_bulletin")).first()
        sent_sha = sent.attachments[0]["sha256"]
    assert cli("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00").exit_code == 0   # the same bytes
    # A late callback changes the week's figures: rendering again makes version 2 beside version 1.
    from tests.conftest import History
    late = History()
    (late.ticket("V2", "2026-11-10 08:00", phone="13800000002").dispatch("2026-11-10 09:00", "D02")
     .sign("2026-11-10 10:00", "D02").reply("2026-11-10 16:00", "D02").callback("2026-11-12 10:00", "unsatisfied", False))
    late.store()
    assert cli("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00").exit_code == 0
    with session_scope() as s:
        versions = s.scalars(select(DocumentVersion).order_by(DocumentVersion.version)).all()
        assert [(v.version, v.path.endswith(f"weekly_bulletin/2026-W46/v{v.version}.pdf")) for v in versions] == [
            (1, True), (2, True)]
        assert versions[0].sha256 == sent_sha != versions[1].sha256
    res = cli("documents", "get", "weekly_bulletin", "2026-W46", "--version", "1", "--out", str(tmp_path / "v1.pdf"))
    assert res.exit_code == 0 and "v1" in res.output and "verified" in res.output
    assert hashlib.sha256((tmp_path / "v1.pdf").read_bytes()).hexdigest() == sent_sha   # what was sent
    listing = cli("documents", "list", "--kind", "weekly_bulletin").output
    assert "2026-W46" in listing and "    v1 " in listing and "    v2 " in listing and "莱热线通〔2026〕1号" in listing
    path = cli("documents", "get", "weekly_bulletin", "2026-W46", "--version", "2").output.strip()
    with open(path, "ab") as fh:
        fh.write(b"%tampered")
    res = cli("documents", "get", "weekly_bulletin", "2026-W46", "--version", "2", "--out", str(tmp_path / "v2.pdf"))
    assert res.exit_code == 1 and "the file was altered" in res.output


def test_a_dry_run_of_the_inbox_stores_and_moves_nothing(sqlite_db, monkeypatch, tmp_path):
    import shutil

    from worker import tasks  # noqa: F401 — registers the jobs
    from worker.config import PROJECT_ROOT
    from worker.jobs import preview
    from worker.models import Ticket

    inbox = tmp_path / "preview" / "inbox"        # the preview's own var folder
    inbox.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "db" / "seed" / "sample-export.csv", inbox / "export.csv")
    (inbox / "export.csv.complete").touch()   # the sender's mark: complete, no quiet period to wait
    _run, summary, _n = preview("process_inbox", None, tmp_path / "preview")
    assert summary["files"][0]["outcome"] == "would go to done"
    assert (inbox / "export.csv").exists() and not (inbox / "done" / "export.csv").exists()
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
