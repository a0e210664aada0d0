"""Every archived file downloadable by those who may see it (issue 35 item 5): a per-ticket
report's PDF and editable DOCX to the centre, which it is sent to for review (config/console.yaml:
a document not published is read by those it was sent to, their units and the centre), the law
push's PDF and XLSX to the justice bureau — and refused (403) to a login that may not read them.

test_web's district and history, plus a national ticket of D01 replied and passed on Thu 17 Dec
(seed 004: its 网民留言办理情况的报告 is drafted, and sent to the centre to review before D01 signs).
"""
from __future__ import annotations

import re
from io import BytesIO

from tests import test_web
from tests.test_web import CENTRE, JUSTICE, LIAISON_D01, cli

console = test_web.console


def files_of(c, kind: str) -> tuple[str, dict[str, str]]:
    listing = c.get("/documents", params={"kind": kind}).text
    doc = re.search(r'<a href="(/documents/\d+)">', listing).group(1)
    page = c.get(doc).text
    links = dict(re.findall(r'href="(/documents/\d+/(?:v\d+\.pdf|files/[0-9a-f]{64}))" download>下载 (PDF|DOCX|XLSX)', page))
    return doc, {kind: link for link, kind in links.items()}


def test_pdf_docx_and_xlsx_to_whoever_may_read_them_only(console):
    from docx import Document as Docx
    from openpyxl import load_workbook

    from tests.conftest import History

    more = History()
    (more.ticket("N1215D01", "2026-12-15 08:00", source="national", content="网民留言：路灯损坏")
     .dispatch("2026-12-15 09:00", "D01").sign("2026-12-15 10:00", "D01")
     .reply("2026-12-17 15:00", "D01", note="已更换路灯。").review("2026-12-17 17:00"))
    more.store()
    assert cli("run", "ticket_reports", "--at", "2026-12-18 09:00", "--inline").exit_code == 0
    assert cli("run", "law_push", "--at", "2026-12-15 09:00", "--inline").exit_code == 0

    centre, d01, justice = console(CENTRE), console(LIAISON_D01), console(JUSTICE)
    _, report = files_of(centre, "ticket_national_report")
    assert set(report) == {"PDF", "DOCX"}
    pdf, docx = centre.get(report["PDF"]), centre.get(report["DOCX"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert docx.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert "N1215D01" in "".join(p.text for p in Docx(BytesIO(docx.content)).paragraphs)
    assert d01.get(report["PDF"]).status_code == 403 and d01.get(report["DOCX"]).status_code == 403

    _, push = files_of(justice, "law_push")
    xlsx = justice.get(push["XLSX"])
    assert xlsx.status_code == 200 and justice.get(push["PDF"]).status_code == 200
    sheet = load_workbook(BytesIO(xlsx.content)).active
    assert "T1214D03" in [str(c.value) for row in sheet.iter_rows() for c in row]
    assert d01.get(push["XLSX"]).status_code == 403 and d01.get(push["PDF"]).status_code == 403
