"""Per-ticket reports (seed 004): a national ticket's 《关于…（工单编号）网民留言办理情况的报告》, a provincial
接诉即办 ticket's 情况说明 and 承办单, drafted for signing once the reply passes the centre's review —
who contacted the caller when and on which number, what was done, the caller's satisfaction (or an
interim report), the signature and seal blocks — as PDF and DOCX of the same content, re-issued as a
new version when a later event changes them."""
from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from docx import Document as Docx
from docx.shared import Mm, Pt
from sqlalchemy import select

from tests.conftest import document_text
from worker.cli import main
from worker.db import session_scope
from worker.models import Document, DocumentVersion, OutboxMessage


def run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def versions(kind: str, scope: str) -> list[DocumentVersion]:
    with session_scope() as s:
        return s.scalars(select(DocumentVersion).join(Document).where(Document.kind == kind, Document.scope == scope)
                         .order_by(DocumentVersion.version)).all()


def test_national_and_provincial_tickets_get_their_reports_once_reviewed(sqlite_db, history, smtp):
    h = history
    # N1 (national): dispatched Mon 16 Nov 09:00 to D18, signed 10:00, the unit's 李明 called the caller
    # at 10:20 from 0535-6688123, replied Tue 17 Nov 15:00 (due Thu 19 Nov 23:59:59: 3 working days),
    # review passed 17:00, caller satisfied and resolved on Wed 18 Nov 10:00.
    (h.ticket("N1", "2026-11-16 08:00", source="national", category="1002", phone="13912345678",
              content="网民留言：在某超市购买过期食品<b>投诉</b>，电话13912345678")
     .dispatch("2026-11-16 09:00", "D18").sign("2026-11-16 10:00", "D18")
     .contact("2026-11-16 10:20", "D18", "李明", "0535-6688123")
     .reply("2026-11-17 15:00", "D18", note="经核查，该超市确有销售过期食品行为，已立案查处并责令下架。")
     .review("2026-11-17 17:00").callback("2026-11-18 10:00", "satisfied", True))
    # P1 (provincial 接诉即办): reply due 2 working days, completion 13; replied and passed, no callback yet.
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
    # A draft of the district government's report: the seed's title, 主送, no red header of ours.
    assert text.startswith("代拟稿关于消费维权问题（N1）网民留言办理情况的报告烟台市人民政府办公室：")
    assert "莱山区89000民生服务中心" not in text.split("特此报告")[0][:40]
    # 何人、何时、用何电话号码与来电人联系; the outcome; the satisfaction.
    assert "一、联系来电人情况2026年11月16日10:20，区市场监督管理局工作人员李明使用0535-6688123与来电人张*（139****5678）电话联系" in text
    assert "区市场监督管理局于2026年11月17日15:00答复（正常答复），办结按时：经核查，该超市确有销售过期食品行为，已立案查处并责令下架。" in text
    assert "三、来电人满意度情况2026年11月18日10:00，区89000民生服务中心回访来电人，来电人评价“满意”，问题已解决。" in text
    assert "139****5678" in text and "13912345678" not in text and "<b>投诉</b>" in text   # escaped, shown as text
    # The clocks, from DOMAIN.md: signed within 24 hours; completion due Thu 19 Nov 23:59.
    assert "签收（响应）2026年11月17日09:002026年11月16日10:00按时" in text
    assert "办结2026年11月19日23:592026年11月17日15:00按时" in text
    # Signed by the leader in charge and the principal leader, sealed by the district government (seed 004 ①).
    assert ("特此报告。区政府分管领导（签字）：＿＿＿＿＿＿＿＿区政府主要领导（签字）：＿＿＿＿＿＿＿＿"
            "莱山区人民政府（盖章）2026年11月18日（承办单位：区市场监督管理局；联系人：李明，联系电话：0535-6688123）") in text
    # The provincial ones: signed and sealed by the unit's head, signed by the leader in charge, sealed by the
    # government office (seed 004 ②); no callback yet: an interim report that says the satisfaction follows.
    statement = document_text("ticket_provincial_statement", "P1", flat=True)
    assert statement.startswith("代拟稿（阶段性报告，待回访后续报）消费维权问题省级接诉即办单情况说明")
    assert "截至2026年11月18日18:00，区89000民生服务中心尚未回访，来电人满意度情况待回访后续报。" in statement
    assert "导出数据未载明联系记录" in statement      # P1's export has no 联系 event: the unit is asked to add it
    assert ("承办单位主要负责人（签字）：＿＿＿＿＿＿＿＿区政府分管领导（签字）：＿＿＿＿＿＿＿＿区市场监督管理局（盖章）"
            "莱山区人民政府办公室（盖章）") in statement
    form = document_text("ticket_provincial_form", "P1", flat=True)
    assert "省接诉即办承办单" in form and "答复：2026年11月18日23:59前，按时" in form
    assert "办结：2026年12月3日23:59前，按时" in form          # 13 working days after Mon 16 Nov
    assert "承办单位意见主要负责人（签字）：" in form and "莱山区人民政府办公室（盖章）" in form

    # The DOCX: the same content, A4 with GB/T 9704 margins, page numbers, the PDF's type sizes.
    editable = Docx(Path(docs[("ticket_national_report", "N1")]).with_suffix(".docx"))
    section = editable.sections[0]
    assert (round(section.page_width / Mm(1)), round(section.page_height / Mm(1))) == (210, 297)
    assert (round(section.top_margin / Mm(1)), round(section.left_margin / Mm(1))) == (37, 28)
    assert 'w:instr="PAGE"' in section.footer._element.xml and 'w:instr="PAGE"' in section.even_page_footer._element.xml
    paragraphs = {p.text.replace("\n", ""): p for p in editable.paragraphs}   # the title's lines are breaks
    assert "关于消费维权问题（N1）网民留言办理情况的报告" in paragraphs and "一、联系来电人情况" in paragraphs
    assert paragraphs["关于消费维权问题（N1）网民留言办理情况的报告"].runs[0].font.size == Pt(22)
    assert paragraphs["特此报告。"].runs[0].font.size == Pt(16) and "莱山区人民政府（盖章）" in paragraphs
    cells = [c.text for t in editable.tables for row in t.rows for c in row.cells]
    assert "按时" in cells and "13912345678" not in " ".join([*paragraphs, *cells])
    # Only what the report uses: no copy of the template's 164 styles, no thumbnail of an empty page.
    assert {s.name for s in editable.styles} <= {"Normal", "Footer", "Footer Char", "Default Paragraph Font",
                                                  "Normal Table", "No List", "Table Grid"}
    assert editable.tables[0].style.name == "Table Grid"
    assert Path(docs[("ticket_national_report", "N1")]).with_suffix(".docx").stat().st_size < 16_000

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


def test_a_later_callback_reissues_the_interim_report_as_a_new_version(sqlite_db, history):
    (history.ticket("P2", "2026-11-16 08:00", source="enterprise_provincial", category="1002")
     .dispatch("2026-11-16 09:00", "D18").sign("2026-11-16 09:30", "D18")
     .contact("2026-11-16 09:50", "D18", "李明", "0535-6688123")
     .reply("2026-11-18 11:00", "D18", note="已协调企业办理。").review("2026-11-18 14:00")
     .callback("2026-11-19 10:00", "basically_satisfied", True))
    history.store()
    run("run", "ticket_reports", "--inline", "--at", "2026-11-18 18:00")      # before the callback: interim
    run("run", "ticket_reports", "--inline", "--at", "2026-11-19 11:30")      # after it: version 2
    run("run", "ticket_reports", "--inline", "--at", "2026-11-19 17:30")      # nothing new: no version 3
    first, second = versions("ticket_provincial_statement", "P2")
    assert first.companions and set(second.companions) == {"docx"}
    from pypdf import PdfReader
    old = "".join(p.extract_text() for p in PdfReader(first.path).pages)
    new = "".join(p.extract_text() for p in PdfReader(second.path).pages).replace("\n", "")
    assert "阶段性报告" in old and "阶段性报告" not in new
    assert "2026年11月19日10:00，区89000民生服务中心回访来电人，来电人评价“基本满意”，问题已解决。" in new
    assert "区市场监督管理局工作人员李明使用0535-6688123与来电人" in new
    assert Path(second.path).with_suffix(".docx").exists() and Path(first.path).with_suffix(".docx").exists()
    with session_scope() as s:
        subjects = [m.subject for m in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ticket_report")
                                                 .order_by(OutboxMessage.id))]
    assert subjects == ["【工单报告】P2（消费维权）办理情况", "【工单报告】P2（消费维权）办理情况（第2版）"]
