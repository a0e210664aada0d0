"""The daily law-enforcement push at any size (issue 33): every ticket in its XLSX, the PDF the
counts of every unit and at most ``law_push.listed_tickets`` tickets, the most serious first.

The push of Tue 10 Nov 2026 09:00 covers what was dispatched, replied or called back since the
previous working day's push, Mon 9 Nov 09:00 (2026: 2-6 and 9-13 Nov are working weeks).  Tourism
clues (config/metrics.yaml tourism_triage): a law-enforcement ticket naming 民宿/景区/… is one; naming
a focus problem too (虚假宣传) scores 2 → 橙, otherwise 0 → 黄 (November: no holiday, no peak season).
"""
from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import document_sheets, document_text
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Document, Unit

AT = "2026-11-10 09:00"
LAW = "200101"     # 乱罚款, under 20 行政执法 (config/metrics.yaml law_enforcement_codes)


@pytest.fixture
def config(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    for name in ("calendar.yaml", "schedules.yaml"):
        shutil.copy(PROJECT_ROOT / name, folder / name)
    shutil.copy(PROJECT_ROOT / "db" / "seed" / "district.yaml", folder / "directory.yaml")
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    return folder


def listing(config, n: int) -> None:
    documents = config / "documents.yaml"
    documents.write_text(documents.read_text(encoding="utf-8").replace("listed_tickets: 20", f"listed_tickets: {n}"),
                         encoding="utf-8")


def push():
    res = CliRunner().invoke(main, ["run", "law_push", "--inline", "--at", AT])
    assert res.exit_code == 0, res.output


def test_the_push_lists_the_most_serious_first_and_every_ticket_in_its_xlsx(db, config, history):
    def t(number, received="2026-11-09 09:30", **kw):   # each its own caller and place: no repeats
        return history.ticket(number, received, category=kw.pop("category", LAW), phone=f"1390000{number[1:]:0>4}",
                              address=f"观海路{number[1:]}号", **kw)

    t("P01").dispatch("2026-11-09 10:00", "D21")                                     # new
    t("P02", content="民宿经营者被乱罚款").dispatch("2026-11-09 10:30", "D21")        # new, tourism clue 黄
    t("P03", content="景区商户虚假宣传，执法人员乱罚款").dispatch("2026-11-09 11:00", "D10")   # new, 橙
    (t("P05", "2026-11-03 09:00").dispatch("2026-11-03 10:00", "D21")
     .reply("2026-11-05 10:00", "D21").callback("2026-11-09 16:00", "unsatisfied", False))  # called back: dissatisfied
    (t("P06", "2026-11-04 09:00").dispatch("2026-11-04 10:00", "D10")
     .reply("2026-11-09 14:00", "D10"))                                               # replied in time
    t("P07").dispatch("2026-11-09 13:00", "D10")                                     # new
    t("P04").dispatch("2026-11-09 14:00", "D21")                                     # new, graded 敏感 (below)
    history.tickets["P04"]["severity"] = "敏感"      # as the morning's daily sheet graded it
    t("P08", "2026-11-09 09:00", category="0101").dispatch("2026-11-09 10:00", "D21")  # not law enforcement
    history.store()
    listing(config, 4)
    push()

    text = document_text("law_push", flat=True)
    assert "共7件，其中新交办5件，已答复或已回访2件；涉旅行政执法问题线索2件（橙色1件、黄色1件）" in text
    assert "本推送列出其中4件，其余3件及全部工单明细见随本推送一并发送的数据表" in text
    assert "二、工单清单（共7件，列4件）" in text and "其余3件见数据表" in text
    listed = sorted((n for n in ("P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08") if n in text), key=text.index)
    assert listed == ["P03", "P02", "P04", "P05"]     # 橙, 黄, 敏感, dissatisfied; then the new would come
    with session_scope() as s:
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
    table = text[text.index("一、各承办单位情况"):text.index("二、")]
    # unit, total, new, replied, called back, overdue, dissatisfied — the most tickets first, then by code
    assert f"1{names['D21']}430101" in table and f"2{names['D10']}321000" in table and "合计751101" in table
    (sheet,) = document_sheets("law_push").values()
    assert [row[0] for row in sheet[1:]] == ["P01", "P02", "P03", "P04", "P05", "P06", "P07"]   # every one, by code and number
    assert {row[0]: row[7] for row in sheet[1:]}["P05"] == "已回访"


def test_the_push_of_a_busy_day_stays_a_few_pages(sqlite_db, config, history, smtp):
    with session_scope() as s:
        units = list(s.scalars(select(Unit.code).where(Unit.kind.in_(("department", "territorial")))))
    for i in range(240):
        unit = units[i % len(units)]
        (history.ticket(f"B{i:03d}", "2026-11-09 09:00", category=LAW, phone=f"1390001{i:04d}", address=f"观海路{i}号",
                        content=f"反映执法人员在检查中乱罚款{i}次，未出示任何执法证件，也不告知处罚依据，要求查处并退还罚款。")
         .dispatch(f"2026-11-09 {10 + i // 60}:{i % 60:02d}", unit))
    history.store()
    push()
    with session_scope() as s:
        path = s.scalars(select(Document.path).where(Document.kind == "law_push")).one()
    info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages <= 8        # every unit of the directory (40) and 20 tickets; the same day took 50 pages before
    text = document_text("law_push", flat=True)
    assert "共240件，其中新交办240件" in text and "本推送列出其中20件，其余220件" in text and "合计240240000" in text
    assert sum(1 for i in range(240) if f"B{i:03d}" in text) == 20
    (sheet,) = document_sheets("law_push").values()
    assert len(sheet) == 241
    assert CliRunner().invoke(main, ["outbox", "send"]).exit_code == 0
    (msg,) = [m for _to, m in smtp.messages if "执法监督推送" in m["Subject"]]
    parts = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert len(PdfReader(io.BytesIO(next(v for k, v in parts.items() if k.endswith(".pdf")))).pages) == pages
    assert any(k.endswith(".xlsx") for k in parts)
