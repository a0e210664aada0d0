"""The escalation ladder end to end: failing weeks → notices → outbox → a real SMTP server."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from worker.cli import main
from worker.db import session_scope
from worker.models import Escalation, OutboxMessage

WEEKS = {  # week Monday → does D20 fail it?
    date(2026, 11, 2): True, date(2026, 11, 9): True, date(2026, 11, 16): True,
    date(2026, 11, 23): False, date(2026, 11, 30): True, date(2026, 12, 7): True,
}
OTHERS = ["D01", "D02", "D03", "D04", "D05", "D06"]


@pytest.fixture
def failing_unit(sqlite_db, history):
    n = 0
    for monday, fails in WEEKS.items():
        for unit in ["D20"] + OTHERS:
            for k in range(3):
                n += 1
                day = monday + timedelta(days=k)
                bad = unit == "D20" and fails
                (history.ticket(f"W{n:04d}", f"{day} 08:00", phone=f"1390000{n:04d}",
                                content="反映路灯损坏<script>alert(1)</script>")
                 .dispatch(f"{day} 09:00", unit).sign(f"{day} 10:00", unit).reply(f"{day} 16:00", unit)
                 .callback(f"{day} 18:00", "unsatisfied" if bad else "satisfied", not bad))
    return history.store()


def run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def count_delivery(figures, sink, expected: int) -> None:
    """Messages counted at the SMTP server by Message-ID, for the reliability figures."""
    ids = sink.by_id()
    figures("messages expected", expected)
    figures("messages delivered", len(ids))
    figures("messages duplicated", sum(n - 1 for n in ids.values()))
    figures("messages lost", expected - len(ids))


def send_after_backoff():
    """Let the retry backoff expire, then run the sender twice (a deferred message, then the rest)."""
    with session_scope() as s:
        s.execute(OutboxMessage.__table__.update().values(not_before=OutboxMessage.created_at))
    run("outbox", "send")
    run("outbox", "send")


def weekly(monday: date):
    run("run", "escalation_weekly", "--inline", "--at", f"{monday + timedelta(days=2)} 12:00")


def fired():
    with session_scope() as s:
        return [(e.unit_code, e.tier, e.run_started) for e in s.scalars(select(Escalation).order_by(Escalation.id))]


def test_two_then_three_failing_weeks_send_tier_one_then_tier_two(failing_unit, smtp):
    import io

    from pypdf import PdfReader

    weekly(date(2026, 11, 2))
    assert fired() == []
    weekly(date(2026, 11, 9))
    assert fired() == [("D20", "leader_in_charge_interview", "2026-W45")]
    run("outbox", "send")
    tier1 = [(to, m) for to, m in smtp.messages]
    assert sorted(to[0] for to, _ in tier1) == ["center@example.gov.cn", "deputy2@example.gov.cn",
                                                 "head.d20@example.gov.cn"]
    _to, msg = next((t, m) for t, m in tier1 if t == ["head.d20@example.gov.cn"])
    assert "区级分管领导约谈单位主要负责同志" in msg["Subject"] and "区城市管理局" in msg["Subject"]
    assert msg["To"].addresses[0].display_name
    pdf = next(p for p in msg.iter_attachments())
    assert pdf.get_filename().endswith(".pdf") and "区城市管理局" in pdf.get_filename()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages)
    assert "区城市管理局" in text and "连续2周" in text and "副区长曹春生同志" in text    # the leader overseeing D20

    smtp.messages.clear()
    weekly(date(2026, 11, 16))
    assert fired()[-1] == ("D20", "principal_leader_interview", "2026-W45")
    run("outbox", "send")
    assert sorted(t[0] for t, _ in smtp.messages) == ["center@example.gov.cn", "deputy2@example.gov.cn",
                                                      "head.d20@example.gov.cn", "mayor@example.gov.cn"]
    assert all("区政府主要领导约谈" in m["Subject"] for _, m in smtp.messages)

    # Running the same week again changes nothing and sends nothing.
    smtp.messages.clear()
    weekly(date(2026, 11, 16))
    run("outbox", "send")
    assert smtp.messages == [] and len(fired()) == 2

    # A passing week ends the run; failing again starts a new one, and tier 1 fires again after 2 weeks.
    weekly(date(2026, 11, 23))
    weekly(date(2026, 11, 30))
    assert len(fired()) == 2
    weekly(date(2026, 12, 7))
    assert fired()[-1] == ("D20", "leader_in_charge_interview", "2026-W49")


def test_server_down_then_up_delivers_each_message_exactly_once(failing_unit, monkeypatch, figures):
    from tests.conftest import SMTPSink, free_port

    port = free_port()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_RATE", "0")
    weekly(date(2026, 11, 2))
    weekly(date(2026, 11, 9))
    res = run("outbox", "send")                       # nobody listens on the port
    assert "sent 0" in res.output
    with session_scope() as s:
        assert s.scalar(select(func.count()).where(OutboxMessage.state == "pending")) == 3
        s.execute(OutboxMessage.__table__.update().values(not_before=OutboxMessage.created_at))
    sink = SMTPSink(port).start()
    try:
        sink.refuse = ["451 4.3.0 try again later"]   # the first one is deferred
        run("outbox", "send")
        send_after_backoff()
        assert len(sink.messages) == 3 and set(sink.by_id().values()) == {1}
        figures("faults injected", 2)            # server down, then 451
        figures("faults survived", 2)
        count_delivery(figures, sink, 3)
    finally:
        sink.stop()


def test_permanent_refusal_is_failed_then_retried(failing_unit, smtp, figures):
    weekly(date(2026, 11, 2))
    weekly(date(2026, 11, 9))
    smtp.refuse = ["550 5.1.1 mailbox unavailable"]
    res = CliRunner().invoke(main, ["outbox", "send"])
    # The batch went on: the two other letters, and the owners' alert about the refused one.
    assert res.exit_code == 1 and "sent 3" in res.output and "failed 1" in res.output
    assert "refused: " in res.output and "550 5.1.1 mailbox unavailable" in res.output
    assert [to for to, m in smtp.messages if str(m["Subject"]).startswith("【告警】")] == [["ops@example.gov.cn"]]
    res = run("outbox")
    assert "failed" in res.output and "550 5.1.1 mailbox unavailable" in res.output
    run("outbox", "retry")
    smtp.messages = [(to, m) for to, m in smtp.messages if not str(m["Subject"]).startswith("【告警】")]
    assert len(smtp.messages) == 3 and set(smtp.by_id().values()) == {1}
    figures("faults injected")                   # 550 refusal
    figures("faults survived")
    count_delivery(figures, smtp, 3)


def test_without_smtp_messages_become_eml_files(failing_unit, env):
    from email import message_from_bytes
    from email import policy as email_policy

    from worker.config import load_settings

    weekly(date(2026, 11, 2))
    weekly(date(2026, 11, 9))
    res = run("outbox", "send")
    assert "written 3" in res.output
    files = sorted(load_settings().outbox_dir.glob("*.eml"))
    assert len(files) == 3
    msg = message_from_bytes(files[0].read_bytes(), policy=email_policy.default)
    raw = files[0].read_bytes().decode("ascii")
    assert "=?utf-8?" in raw                          # RFC 2047 subject and names
    assert "filename*0*=utf-8''" in raw               # RFC 2231 attachment name, in continuations
    assert msg.get_body(("plain",)).get_content().startswith(msg["To"].addresses[0].display_name)


def test_header_injection_is_impossible(sqlite_db, env):
    from worker.mail import build, enqueue

    with session_scope() as s:
        enqueue(s, idem_key="k", kind="test", email="a@example.gov.cn", name="王五\r\nBcc: evil@example.com",
                role="unit_head", subject="督办\r\nBcc: evil@example.com", text="x", html="<p>x</p>",
                sender="from@example.gov.cn")
        row = s.scalars(select(OutboxMessage)).one()
        raw = bytes(build(s, row, "from@example.gov.cn", "热线\nX-Evil: 1"))
    headers = raw.split(b"\n\n", 1)[0].decode()
    assert "\nBcc:" not in headers and "\nX-Evil" not in headers


def test_connection_dropped_mid_batch_then_each_message_once(failing_unit, smtp, figures):
    weekly(date(2026, 11, 2))
    weekly(date(2026, 11, 9))
    smtp.refuse = ["421 4.4.2 closing connection"]     # the server gives up in the middle of the batch
    run("outbox", "send")
    send_after_backoff()
    assert len(smtp.messages) == 3 and set(smtp.by_id().values()) == {1}
    figures("faults injected")
    figures("faults survived")
    count_delivery(figures, smtp, 3)
