"""Per-ticket reports (seed 004): a national ticket's 网民留言办理情况的报告, a provincial 接诉即办
ticket's 情况说明 and 承办单, as PDF and editable DOCX, once the reply passes the centre's review."""
from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from docx import Document as Docx
from sqlalchemy import select

from tests.conftest import document_text
from worker.cli import main
from worker.db import session_scope
from worker.models import Document, OutboxMessage


def run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def test_national_and_provincial_tickets_get_their_reports_once_reviewed(sqlite_db, history, smtp):
    h = history
    # N1 (national): dispatched Mon 16 Nov 09:00 to D18, signed 10:00, replied Tue 17 Nov 15:00 (due
    # Thu 19 Nov 23:59:59: 3 working days), review passed 17:00, caller satisfied and resolved.
    (h.ticket("N1", "2026-11-16 08:00", source="national", category="1002", phone="13912345678",
              content="网民留言：在某超市购买过期食品<b>投诉</b>，电话13912345678")
     .dispatch("2026-11-16 09:00", "D18").sign("2026-11-16 10:00", "D18")
     .reply("2026-11-17 15:00", "D18", note="经核查，该超市确有销售过期食品行为，已立案查处并责令下架。")
     .review("2026-11-17 17:00").callback("2026-11-18 10:00", "satisfied", True))
    # P1 (provincial 接诉即办): reply due 2 working days, completion 13; replied and passed.
    (h.ticket("P1", "2026-11-16 08:00", source="enterprise_provincial", category="1002")
     .dispatch("2026-11-16 09:00", "D18").sign("2026-11-16 09:30", "D18")
     .reply("2026-11-18 11:00", "D18", note="已协调企业办理。").review("2026-11-18 14:00"))
    # N2: national, replied but the review sent it back: no report yet.  C1: a city ticket: never.
    (h.ticket("N2", "2026-11-16 08:00", source="national").dispatch("2026-11-16 09:00", "D18")
     .reply("2026-11-17 15:00", "D18").review("2026-11-17 16:00", passed=False))
    (h.ticket("C1", "2026-11-16 08:00").dispatch("2026-11-16 09:00", "D18")
     .reply("2026-11-17 15:00", "D18").review("2026-11-17 16:00"))
    h.store()
    run("run", "ticket_reports", "--inline", "--at", "2026-11-18 18:00")
    with session_scope() as s:
        docs = {(d.kind, d.scope): d.path for d in s.scalars(select(Document).where(Document.kind.like("ticket_%")))}
    assert sorted(docs) == [("ticket_national_report", "N1"), ("ticket_provincial_form", "P1"),
                            ("ticket_provincial_statement", "P1")]

    text = document_text("ticket_national_report", "N1", flat=True)
    assert "关于消费维权问题（N1）网民留言办理情况的报告" in text
    assert "经核查，该超市确有销售过期食品行为，已立案查处并责令下架。" in text
    assert "139****5678" in text and "13912345678" not in text and "<b>投诉</b>" in text   # escaped, shown as text
    # The clocks, from DOMAIN.md: signed within 24 hours; completion due Thu 19 Nov 23:59.
    assert "签收（响应）2026年11月17日09:002026年11月16日10:00按时" in text
    assert "办结2026年11月19日23:592026年11月17日15:00按时" in text
    assert "满意，问题已解决" in text
    form = document_text("ticket_provincial_form", "P1", flat=True)
    assert "省接诉即办承办单" in form and "答复2026年11月18日23:592026年11月18日11:00按时" in form
    assert "办结2026年12月3日23:59" in form          # 13 working days after Mon 16 Nov

    editable = Docx(Path(docs[("ticket_national_report", "N1")]).with_suffix(".docx"))
    paragraphs = [p.text for p in editable.paragraphs]
    assert "关于消费维权问题（N1）网民留言办理情况的报告" in paragraphs and "二、办理过程" in paragraphs
    cells = [c.text for t in editable.tables for row in t.rows for c in row.cells]
    assert "按时" in cells and "13912345678" not in " ".join(paragraphs + cells)

    run("outbox", "send")
    (to, msg), = [(to, m) for to, m in smtp.messages if "N1" in m["Subject"]]
    assert to == ["center@example.gov.cn"]
    names = sorted(p.get_filename() for p in msg.iter_attachments())
    assert names == ["关于消费维权问题（N1）网民留言办理情况的报告.docx", "关于消费维权问题（N1）网民留言办理情况的报告.pdf"]
    docx_part = next(p for p in msg.iter_attachments() if p.get_filename().endswith(".docx"))
    assert docx_part.get_content_type().endswith("wordprocessingml.document")
    assert "办理情况" in "".join(p.text for p in Docx(io.BytesIO(docx_part.get_content())).paragraphs)

    # Running again (the next hour) reports nothing twice.
    run("run", "ticket_reports", "--inline", "--at", "2026-11-18 19:00")
    with session_scope() as s:
        assert len(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ticket_report")).all()) == 2
