"""Documents: the text inside each PDF, masked callers, safe rendering, numbering, determinism."""
from __future__ import annotations

import re
import subprocess

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import document_text
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Document, OutboxMessage, Run

INJECTION = ('<img src="file:///etc/passwd"><link rel="stylesheet" href="http://example.com/x.css">'
             '<div style="background: url(file:///etc/shadow)">x</div><script>alert(1)</script>')
PHONE = "13912345678"


@pytest.fixture(autouse=True)
def manual_clock(monkeypatch):
    """These documents cover up to the fourth quarter of 2026: run on Monday 4 January 2027."""
    from datetime import datetime

    import worker.jobs
    monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime(2027, 1, 4, 9, 0))


@pytest.fixture
def district(sqlite_db, history):
    h = history
    # Week of 9 Nov 2026; the caller's phone also appears inside the complaint text.
    (h.ticket("A1", "2026-11-09 09:00", phone=PHONE, name="李小明", content=f"路灯不亮，请回电{PHONE}。" + INJECTION)
     .dispatch("2026-11-09 10:00", "D20").sign("2026-11-09 11:00", "D20"))
    (h.ticket("A2", "2026-11-09 09:00", phone="13800000002", category="200101", content="反映被重复罚款")
     .dispatch("2026-11-09 10:00", "D21").sign("2026-11-09 11:00", "D21").reply("2026-11-10 10:00", "D21")
     .callback("2026-11-10 15:00", "unsatisfied", False))
    (h.ticket("A3", "2026-11-09 09:00", phone="13800000003", content="反映停水")
     .dispatch("2026-11-09 10:00", "D22").sign("2026-11-09 10:30", "D22").reply("2026-11-09 16:00", "D22")
     .callback("2026-11-10 09:00", "satisfied", True))
    return h.store()


def run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


pdf_text = document_text


def last_summary(job: str) -> dict:
    with session_scope() as s:
        return s.scalars(select(Run.summary).where(Run.job == job).order_by(Run.id.desc())).first()


def test_daily_sheet(district):
    run("run", "daily_sheet", "--inline", "--at", "2026-11-13 08:30")
    text = pdf_text("daily_sheet")
    assert "莱山区89000民生服务中心" in text and "12345热线工单日调度" in text and "2026年11月13日" in text
    assert "区城市管理局" in text and "A1" in text
    assert "139****5678" in text and PHONE not in text and "李小明" not in text and "李**" in text
    # The request, cut to the sheet's column (the XLSX has it whole): its markup shown as text, never fetched.
    assert '<imgsrc="file:///' in re.sub(r"\s", "", text)
    # The calendar gap within 60 days is the operators' matter (the scheduler's alert, hotline doctor:
    # tests/test_alerts.py): never on the sheet nor in its e-mail.
    assert "日历" not in text and "calendar" not in text and "years:" not in text
    with session_scope() as s:
        sheet = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "daily_sheet")).first()
    assert "日历" not in sheet.body_text and "2027" not in sheet.body_text
    assert "发：中心各科室。" in text        # its recipients, in the 版记
    assert "— 1 —" in text and "— 2 —" in text


def test_law_push_only_selected_categories(district, tmp_path):
    from openpyxl import load_workbook

    # Tue 10 Nov 09:00: since the previous push (Mon 9 Nov 09:00) A2 was dispatched: new.
    run("run", "law_push", "--inline", "--at", "2026-11-10 09:00")
    text = re.sub(r"\s", "", pdf_text("law_push", "2026-11-10"))
    assert ("现将2026年11月9日09:00至2026年11月10日09:00（上次推送以来）新交办或办理状态有变化的涉行政执法热线工单"
            in text) and "共1件，其中新交办1件，已答复或已回访0件" in text and "新交办办理中" in text
    # Wed 11 Nov 09:00: A2 was replied and called back since: in the push again, saying so.
    run("run", "law_push", "--inline", "--at", "2026-11-11 09:00")
    text = pdf_text("law_push", "2026-11-11")
    assert "涉行政执法工单推送" in text and "A2" in text and "乱罚款" in text
    assert "A1" not in text and "A3" not in text
    assert "不满意" in text and "未解决" in text
    assert "共1件，其中新交办0件，已答复或已回访1件" in re.sub(r"\s", "", text) and "送：区司法局。" in text
    # Thu 12 Nov: nothing new or changed.
    run("run", "law_push", "--inline", "--at", "2026-11-12 09:00")
    assert "共0件" in re.sub(r"\s", "", pdf_text("law_push", "2026-11-12"))
    # The XLSX is archived beside the PDF; hotline documents get returns both, each checked.
    res = run("documents", "get", "law_push", "2026-11-11")
    pdf_path, xlsx_path = res.output.split()
    assert pdf_path.endswith("v1.pdf") and xlsx_path.endswith("v1.xlsx")
    run("documents", "get", "law_push", "2026-11-11", "--out", str(tmp_path / "push.pdf"))
    rows = list(load_workbook(tmp_path / "push.xlsx").active.iter_rows(values_only=True))
    assert rows[0][6:8] == ("办理状态", "推送原因") and [r[0] for r in rows[1:]] == ["A2"] and rows[1][7] == "已回访"
    with open(xlsx_path, "ab") as fh:
        fh.write(b"x")
    res = CliRunner().invoke(main, ["documents", "get", "law_push", "2026-11-11"])
    assert res.exit_code == 1 and "v1.xlsx: its SHA-256 differs from the ledger's" in res.output


def test_weekly_bulletin_figures_and_numbering(district):
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    text = pdf_text("weekly_bulletin")
    assert "第1期（莱热线通〔2027〕1号）" in text and "12345热线工作周通报" in text and "2026年11月9日至11月15日" in text
    assert "发：中心各科室，各承办单位。" in text.replace("\n", "")
    assert "0.00%" in text and "（0/1）" in text and "100.00%" in text and "（1/1）" in text
    # D20 has no evaluations: not ranked, listed after the ranking; "n/a" never appears in Chinese text.
    assert "n/a" not in text and "无回访评价" in text
    assert "本周无回访评价的单位（表中“—”）不参与排名，列于排名之后：区城市管理局" in text.replace("\n", "")
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-19 10:00")
    assert "第2期" in pdf_text("weekly_bulletin", "2026-W47")
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")   # re-render keeps its number
    assert "第1期" in pdf_text("weekly_bulletin", "2026-W46")


def test_rerender_is_deterministic(district):
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    with session_scope() as s:
        first = s.scalars(select(Document.sha256).where(Document.kind == "weekly_bulletin")).one()
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    with session_scope() as s:
        assert s.scalars(select(Document.sha256).where(Document.kind == "weekly_bulletin")).one() == first


def test_monthly_and_quarterly(district):
    from tests.conftest import History

    # November 2025, for the year-on-year comparison: two tickets of D22, both satisfied and resolved;
    # the data begin in October 2025 (Y0), so November 2025 is complete and compares.
    h = History()
    h.ticket("Y0", "2025-10-30 09:00", phone="13800000008").dispatch("2025-10-30 10:00", "D22")
    for n in ("Y1", "Y2"):
        (h.ticket(n, "2025-11-10 09:00", phone="13800000009").dispatch("2025-11-10 10:00", "D22")
         .sign("2025-11-10 11:00", "D22").reply("2025-11-11 10:00", "D22").callback("2025-11-12 10:00"))
    h.store()
    run("run", "monthly_analysis", "--inline", "--at", "2026-11-20 10:00")
    text = pdf_text("monthly_analysis")
    assert "12345热线工作月度分析" in text and "2026年11月" in text and "重点领域" in text
    # 3 tickets against 2 a year before; none in October: no month-on-month comparison (DOMAIN.md
    # "Partial periods"), so no hot spot "rising" either.  Satisfaction 1/2 against 2/2.
    flat = text.replace("\n", "")
    assert "交办工单 3 件（向承办单位交办 3 件次），较去年同期增加 1 件（+50.0%），上月无数据，不作比较。" in flat
    assert "同比" in text and "环比" in text and "去年同月" in text and "说明：上月无数据，环比不作比较。" in flat
    assert "-50.00个百分点" in flat and "100.00%" in text and "（2/2）" in text
    assert "环比上升较快" not in flat
    assert "报：区政府主要领导。发：中心各科室。" in re.sub(r"\s", "", text)
    run("run", "quarterly_report", "--inline", "--at", "2026-11-20 10:00")
    text = pdf_text("quarterly_report")
    assert "2026年第四季度" in text and "ABCD" in text and "乱罚款" in text


def test_supervision_letter_once_per_ticket_and_stage(district):
    run("run", "supervision", "--inline", "--at", "2026-11-13 10:00")
    text = pdf_text("supervision_letter", "2026-11-13:D20")
    # A1: dispatched Mon 9 Nov, completion due Thu 12 Nov 23:59:59, never answered: 办结超期, and the
    # letter of Fri 13 Nov asks for it by the next working day, Mon 16 Nov.
    flat = re.sub(r"\s", "", text)
    assert "督办函" in text and "区城市管理局" in text and "A1" in text and "办结超期" in text
    assert "于2026年11月16日前办理完毕" in flat and "办结时限11月12日23:59" in flat
    assert "139****5678" in text and PHONE not in text
    assert last_summary("supervision")["letters"] == 2                 # D20 and D21
    run("run", "supervision", "--inline", "--at", "2026-11-13 10:00")   # run again the same day: the same letters
    assert last_summary("supervision")["letters"] == 2
    assert pdf_text("supervision_letter", "2026-11-13:D20") == text
    run("run", "supervision", "--inline", "--at", "2026-11-16 10:00")   # A1 still overdue: no new letter
    assert last_summary("supervision")["letters"] == 0
    with session_scope() as s:
        scopes = s.scalars(select(Document.scope).where(Document.kind == "supervision_letter")).all()
    assert sorted(scopes) == ["2026-11-13:D20", "2026-11-13:D21"]


def test_injection_fetches_nothing(sqlite_db):
    from tests.conftest import FONTS
    from worker.rendering import render_pdf

    pdf, refused = render_pdf("documents/supervision_letter.html", fonts_dir=FONTS, doc={
        "header": "区12345政务服务热线", "issuer": "区89000民生服务中心", "title": "督办函", "date": __import__("datetime").date(2026, 11, 1),
        "issue_no": None, "number": None, "cc": [], "printer": None, "title_lines": ["督办函"], "to": INJECTION,
        "draft": False, "annotation": None, "contact_body": "区89000民生服务中心", "distribution": []}, rows=[{"number": "X1", "content": INJECTION, "caller_name": "张*",
                                                       "caller_phone": "138****0000", "clock_label": "办结时限",
                                                       "clock_due": None, "stage_label": "办结超期"}],
        stages=["办结超期"], deadline=__import__("datetime").date(2026, 11, 2),
        contact={"office": "督办科", "name": "王敏", "phone": "0535-6213451", "email": "d@example.gov.cn"})
    assert refused == []                             # nothing in the content was even tried
    text = PdfReader(__import__("io").BytesIO(pdf)).pages[0].extract_text()
    assert "<script>alert(1)</script>" in text and "file:///etc/passwd" in text


def test_fetcher_refuses_files_and_network():
    from pathlib import Path

    from worker.rendering import SafeFetcher

    f = SafeFetcher({"fonts": Path("/nonexistent")})
    for url in ("file:///etc/passwd", "http://127.0.0.1/", "data:text/css,body{}", "hotline-asset:fonts/../../etc/passwd"):
        with pytest.raises(ValueError):
            f.fetch(url)
    assert len(f.refused) == 4


def test_chinese_glyphs_render_and_first_page_png(district, tmp_path):
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    with session_scope() as s:
        path = s.scalars(select(Document.path).where(Document.kind == "weekly_bulletin")).one()
    fonts = subprocess.run(["pdffonts", path], capture_output=True, text=True, check=True).stdout
    # Fonts by role (GB/T 9704): 小标宋 → Noto Serif bold, 仿宋 → Noto Serif, 黑体 → Noto Sans bold,
    # 楷体 → AR PL UKai (the level-2 headings of the bulletin's typical cases).
    for face in ("Hotline-NotoSerifCJKSC-Bold", "Hotline-NotoSerifCJKSC", "Hotline-NotoSansCJKSC-Bold",
                 "Hotline-ARPLUKaiCN"):
        assert face in fonts, fonts
    res = run("documents", "preview", "--out", str(tmp_path))
    png = tmp_path / "weekly_bulletin.png"
    assert png.exists() and png.stat().st_size > 10_000
    assert re.search(r"weekly_bulletin\.png", res.output)


def test_reduced_user_agent_sheet_covers_every_element():
    """templates/documents/ua.css replaces WeasyPrint's HTML5 sheet: it must name every element
    the documents contain (the templates' tags and the SVG charts' shapes)."""
    from worker.rendering import TEMPLATES, bar_chart, line_chart

    ua = (TEMPLATES / "documents" / "ua.css").read_text()
    named = set(re.findall(r"[a-z][a-z0-9]*", re.search(r"Elements:(.*?)\*/", ua, re.DOTALL).group(1)))
    markup = "".join(p.read_text() for p in (TEMPLATES / "documents").glob("*.html"))
    markup += str(bar_chart(["甲", "乙"], [0.9, 0.8])) + str(line_chart(["1月", "2月"], {"受理量": [3, 4]}))
    used = set(re.findall(r"<([a-z][a-z0-9]*)", markup))
    assert used and used <= named, f"elements missing from ua.css: {sorted(used - named)}"


def test_reduced_user_agent_sheet_renders_like_the_full_one(district, tmp_path, monkeypatch):
    """Page for page, pixel for pixel, with our sheet and with WeasyPrint's own: every document that
    re-renders for its period (tables, ticket lists, charts, red headers, page numbers)."""
    from weasyprint import HTML

    from worker.rendering import DocumentHTML

    runs = {"daily_sheet": "2026-11-13 08:30", "law_push": "2026-11-11 09:00", "weekly_bulletin": "2026-11-12 10:00",
            "monthly_analysis": "2026-11-20 10:00", "quarterly_report": "2026-11-20 10:00"}
    pages = {}
    for name in ("reduced", "full"):
        if name == "full":
            monkeypatch.setattr(DocumentHTML, "_ua_stylesheets", HTML._ua_stylesheets)
        for job, at in runs.items():
            run("run", job, "--inline", "--at", at)
            with session_scope() as s:
                path = s.scalars(select(Document.path).where(Document.kind == job)).one()
            prefix = tmp_path / f"{name}-{job}"
            subprocess.run(["pdftoppm", "-png", "-r", "40", path, str(prefix)], check=True)
            pages[name, job] = [p.read_bytes() for p in sorted(tmp_path.glob(f"{prefix.name}-*.png"))]
    for job in runs:
        assert pages["reduced", job] and pages["reduced", job] == pages["full", job], job


def test_prepared_font_subsets_render_like_weasyprints_own(district, tmp_path, monkeypatch):
    """worker.pdf_output subsets the fonts in one pass from a face prepared once and compresses at
    zlib's default level: every periodical document must come out as WeasyPrint's own code writes
    it — the same text, the same pages pixel for pixel, the fonts still subset, no larger."""
    import gc
    import zlib

    import pydyf
    import weasyprint.pdf.fonts as pdf_fonts

    from worker import documents, pdf_output, rendering
    from worker.rendering import render_pdf

    rendered = []

    def recording(template, **context):
        rendered.append((template, context))
        return render_pdf(template, **context)

    monkeypatch.setattr(documents, "render_pdf", recording)
    for job, at in {"daily_sheet": "2026-11-13 08:30", "weekly_bulletin": "2026-11-12 10:00",
                    "monthly_analysis": "2026-11-20 10:00", "quarterly_report": "2026-11-20 10:00"}.items():
        run("run", job, "--inline", "--at", at)
    subsetter = pdf_output.install()
    assert subsetter is not None and len(rendered) >= 4
    out = {}
    for name in ("prepared", "weasyprint"):
        # A new stylesheet each pass: the old faces are freed and new ones may take their addresses
        # (a preparation kept by address alone subset the new face from the old one's glyphs).
        rendering._stylesheet.cache_clear()
        gc.collect()
        if name == "weasyprint":
            monkeypatch.setattr(pdf_fonts.Font, "_harfbuzz_subset", subsetter.replaced)
            monkeypatch.setattr(pydyf, "zlib", zlib)
        for i, (template, context) in enumerate(rendered):
            path = tmp_path / f"{name}-{i}.pdf"
            path.write_bytes(render_pdf(template, **context)[0])
            subprocess.run(["pdftoppm", "-png", "-r", "60", path, str(tmp_path / f"{name}-{i}")], check=True)
            fonts = subprocess.run(["pdffonts", path], capture_output=True, text=True, check=True).stdout
            text = subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True, check=True).stdout
            out[name, i] = (text, [p.read_bytes() for p in sorted(tmp_path.glob(f"{name}-{i}-*.png"))],
                            [line.split()[-5] for line in fonts.splitlines()[2:]], path.stat().st_size)
    assert subsetter.prepared, "the documents were not subset from prepared faces"
    for i, (template, _) in enumerate(rendered):
        (text, pages, subset, size), (own_text, own_pages, own_subset, own_size) = out["prepared", i], out["weasyprint", i]
        assert text == own_text, template
        assert len(pages) == len(own_pages), template
        assert [n for n, (a, b) in enumerate(zip(pages, own_pages), 1) if a != b] == [], template
        assert subset == own_subset and set(subset) == {"yes"}, (template, subset)
        assert size <= own_size * 1.01, (template, size, own_size)


def test_the_patched_libraries_are_the_locked_versions():
    """worker.rendering mends tinyhtml5's internals and leans on WeasyPrint's: an upgrade must be a
    deliberate change of requirements.lock, made with this test and the next one passing."""
    from importlib.metadata import version

    pins = dict(line.split("==") for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line and not line.startswith(("#", " ")))
    for package in ("tinyhtml5", "weasyprint", "pydyf", "fonttools"):
        assert version(package) == pins[package], (
            f"{package} {version(package)} is installed, requirements.lock pins {pins[package]}: "
            f"re-check worker/rendering.py's mends before changing the lock")


def test_parser_cache_mend_parses_like_tinyhtml5(district, monkeypatch):
    """worker.rendering mends tinyhtml5's pattern cache; the tree must be the one its own code
    builds, for every kind of text the tokenizer scans: data, entities, attribute values in each
    quoting, comments, raw text, CDATA, doctype, NUL characters, and a whole bulletin."""
    from xml.etree import ElementTree

    import tinyhtml5
    from tinyhtml5 import inputstream

    from worker import rendering

    rendered, render_html = [], rendering.render_html

    def recording(template, **context):
        html = render_html(template, **context)
        rendered.extend([html] if template.startswith("documents/") else [])
        return html

    monkeypatch.setattr(rendering, "render_html", recording)
    run("run", "weekly_bulletin", "--inline", "--at", "2026-11-12 10:00")
    assert type(inputstream.characters_until_regex) is rendering._CharsUntilPatterns
    sample = ('<!DOCTYPE html><html><head><title>周通报 &amp; 月分析</title><style>td > p { color: red }</style>'
              '<script>if (a < b && c) {}</script></head><body><!-- 注释 -- 内容 -->'
              '<p class="a b" title=\'单引号\' data-x=无引号>文字&lt;img&gt; &copy; &#x4e2d; &unknown; \x00末尾</p>'
              '<table><tr><td>1<td>2</table><textarea>原样 <b>文本</b></textarea>'
              + str(rendering.bar_chart(["甲", "乙"], [0.9, 0.8])) + '<svg><![CDATA[ x < y ]]></svg></body></html>')
    trees = {}
    for cache in (dict, rendering._CharsUntilPatterns):
        monkeypatch.setattr(inputstream, "characters_until_regex", cache())
        trees[cache] = [ElementTree.tostring(
            tinyhtml5.parse(doc, namespace_html_elements=False), encoding="unicode") for doc in [sample, *rendered]]
    # (laid out twice when its 版记 would stand alone on a page: worker.rendering.render_layout)
    assert rendered and all("双率" in html for html in rendered)
    assert trees[dict] == trees[rendering._CharsUntilPatterns]
    assert "单引号" in trees[dict][0] and "末尾" in trees[dict][0] and "x &lt; y" in trees[dict][0]
