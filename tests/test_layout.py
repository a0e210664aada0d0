"""Layout of every template with the longest realistic values (WeasyPrint's layout boxes): no text
crosses a cell border; a ticket number, a phone number, a rate or a fraction is never split across
lines, nor a two-character column heading; every table and chart inside the type area; and the GB/T 9704 form — the title on the balanced lines
computed for it, never wrapped again; the 落款 never alone on a page; the 版记 at the foot of the last page with the 印发日期 flush right
(one character in); 「— N —」 on the outside edge of every page."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Unit

LONG_UNIT = "莱山区住房和城乡建设局城市更新服务中心"        # 19 characters
LONG_ADDRESS = "莱山区观海路街道凤凰社区滨海中路188号金海湾花园小区东区12号楼3单元1502室"
LONG_CONTENT = ("来电人反映其所在小区自今年八月以来多次出现夜间施工噪音扰民、建筑垃圾堆放占用消防通道、"
                "物业公司对业主投诉推诿不予处理等问题，要求有关部门尽快核实并依法处理，同时公开处理结果。") * 2
PHONES = ["+86 138 1234 5678", "(0535)6681234", "0535-6681234", "010-12345678", "13912345678"]
UNITS = ["D20", "D01", "D02", "D03", "D04", "D05", "D21"]


@pytest.fixture
def long_values(sqlite_db, history):
    with session_scope() as s:
        s.execute(update(Unit).where(Unit.code == "D20").values(name=LONG_UNIT))
    n = 0
    for monday in (date(2026, 11, 2), date(2026, 11, 9)):
        for unit in UNITS:
            n += 1
            bad = unit == "D20"
            (history.ticket(f"20261102{n:07d}", f"{monday} 08:00", phone=PHONES[n % len(PHONES)], name="欧阳明月",
                            address=LONG_ADDRESS, content=LONG_CONTENT, category="200101" if unit == "D21" else "0101")
             .dispatch(f"{monday} 09:00", unit).sign(f"{monday} 10:00", unit).reply(f"{monday} 16:00", unit)
             .callback(f"{monday} 18:00", "unsatisfied" if bad else "satisfied", not bad))
    # Open, overdue, warned, returned late and returned twice, all at the long-named unit.
    wed = date(2026, 11, 11)
    history.ticket("202611110000901", f"{wed} 08:00", phone=PHONES[0], address=LONG_ADDRESS,
                   content=LONG_CONTENT).dispatch(f"{wed - timedelta(days=3)} 09:00", "D20")
    history.ticket("202611110000902", f"{wed} 08:00", phone=PHONES[1], content=LONG_CONTENT,
                   urgent="safety").dispatch(f"{wed} 09:00", "D20")
    (history.ticket("202611110000903", f"{wed} 08:00", phone=PHONES[2], content=LONG_CONTENT)
     .dispatch(f"{wed} 09:00", "D20").ret("2026-11-13 10:00", "D20", LONG_CONTENT[:60], "D01"))
    (history.ticket("202611110000904", f"{wed} 08:00", phone=PHONES[3], content=LONG_CONTENT, street="S04")
     .dispatch(f"{wed} 09:00", "D20").ret(f"{wed} 10:00", "D20", LONG_CONTENT[:60], "D01")
     .dispatch(f"{wed} 11:00", "D01").ret(f"{wed} 14:00", "D01", LONG_CONTENT[:60], "D20"))
    # National and provincial tickets at the long-named unit, for the per-ticket reports; data from
    # October on, so that November is a whole month for the ladder's tier 3 (a 提请).
    for number, source in (("202611110000905", "national"), ("202611110000906", "enterprise_provincial")):
        (history.ticket(number, f"{wed} 08:00", source=source, category="200101", phone=PHONES[4], name="欧阳明月",
                        address=LONG_ADDRESS, content=LONG_CONTENT)
         .dispatch(f"{wed} 09:00", "D20").sign(f"{wed} 09:30", "D20")
         .contact(f"{wed} 09:40", "D20", "司马文静", "0535-66001234")
         .reply("2026-11-12 16:00", "D20", note=LONG_CONTENT).review("2026-11-12 17:00"))
    history.ticket("202610300000001", "2026-10-30 08:00").dispatch("2026-10-30 09:00", "D01")
    for n in range(100):   # a busier October, so that November's change is a realistic one
        (history.ticket(f"20261020{n:07d}", "2026-10-20 08:00", phone=PHONES[0], content=LONG_CONTENT[:40])
         .dispatch("2026-10-20 09:00", "D01").sign("2026-10-20 10:00", "D01").reply("2026-10-20 16:00", "D01")
         .callback("2026-10-20 18:00", "satisfied", True))
    for n in range(100):   # rates with three-digit fractions: 59.41%（60/101）
        (history.ticket(f"20261110{n:07d}", "2026-11-10 08:00", phone=PHONES[0], content=LONG_CONTENT[:40])
         .dispatch("2026-11-10 09:00", "D20").sign("2026-11-10 10:00", "D20").reply("2026-11-10 16:00", "D20")
         .callback("2026-11-10 18:00", "satisfied" if n < 60 else "unsatisfied", n < 60))
    return history.store()


def cell_problems(document) -> tuple[list[str], list[str]]:
    """(text boxes outside their cell, the texts of every line in a cell)."""
    from weasyprint.formatting_structure import boxes

    problems, texts = [], []

    def walk(box, cell=None, page=0):
        if isinstance(box, boxes.TableCellBox):
            cell = box
        if cell is not None and isinstance(box, boxes.TextBox):
            left, right = cell.content_box_x(), cell.content_box_x() + cell.width
            texts.append(box.text)
            if box.position_x < left - 0.5 or box.position_x + box.width > right + 0.5:
                problems.append(f"page {page}: {box.text!r} spans {box.position_x:.1f}-{box.position_x + box.width:.1f}"
                                f" in a cell {left:.1f}-{right:.1f}")
        for child in getattr(box, "children", []):
            walk(child, cell, page)

    for i, page in enumerate(document.pages, 1):
        walk(page._page_box, page=i)
    return problems, texts


def boxes_of(box, cls: str) -> list:
    """The boxes of elements with the class CLS under BOX."""
    found = []
    element = getattr(box, "element", None)
    if element is not None and cls in (element.get("class") or "").split() and not isinstance(box, _boxes().LineBox):
        found.append(box)
    for child in getattr(box, "children", []):
        found += boxes_of(child, cls)
    return found


def _boxes():
    from weasyprint.formatting_structure import boxes
    return boxes


def texts(box) -> str:
    return "".join(b.text for b in box.descendants() if isinstance(b, _boxes().TextBox))


def form_problems(document, context: dict) -> list[str]:
    """GB/T 9704 form of one laid-out document (see the module's docstring)."""
    b = _boxes()
    problems = []
    pages = [page._page_box for page in document.pages]
    # The title: one line box per computed line, inside the title's width.
    wanted = context["doc"]["title_lines"]
    lines = [(line, box) for page in pages for h1 in [x for x in page.descendants() if getattr(x, "element_tag", "") == "h1"
                                                     and isinstance(x, b.BlockBox)]
             for box in h1.children for line in box.children if isinstance(line, b.LineBox)]
    if [texts(line) for line, _ in lines] != wanted:
        problems.append(f"title lines {[texts(line) for line, _ in lines]} instead of {wanted}")
    problems += [f"title line {texts(line)!r} wider than the title" for line, box in lines
                 if line.width > box.width + 0.5]
    # The 落款 keeps company: text of the document stands before it on its page.
    for i, page in enumerate(pages, 1):
        closing = boxes_of(page, "closing")
        if not closing:
            continue
        body = [x for x in page.children if not isinstance(x, (b.MarginBox, b.FootnoteAreaBox))]
        before = "".join(texts(x) for x in body).split(texts(closing[0]))[0]
        if not before.strip():
            problems.append(f"page {i}: the 落款 stands alone")
    # The 版记 at the foot of the last page, its 印发日期 one character from the right edge.
    banji = [x for page in pages for x in boxes_of(page, "banji")]
    if banji:
        areas = [x for x in pages[-1].children if isinstance(x, b.FootnoteAreaBox) and x.children]
        if not areas or not boxes_of(areas[0], "banji"):
            problems.append("the 版记 is not at the foot of the last page")
        else:
            line = boxes_of(areas[0], "banji-print")[0]
            date = next(t for t in line.descendants() if isinstance(t, b.TextBox) and t.text.endswith("印发"))
            gap = line.content_box_x() + line.width - (date.position_x + date.width)
            if abs(gap) > 0.5:   # the line's padding is the one character
                problems.append(f"印发日期 {gap:.1f}pt from the 版记's right edge")
    # Every table and chart inside the type area (版心).
    for i, page in enumerate(pages, 1):
        right = page.content_box_x() + page.width
        problems += [f"page {i}: a {type(t).__name__} (table or chart) runs {t.position_x + t.border_width() - right:.1f}pt past the type area"
                     for t in page.descendants() if isinstance(t, (b.TableBox, b.ReplacedBox))
                     and t.position_x + t.border_width() > right + 0.5]
    # Page numbers 「— N —」: odd pages on the right, even pages on the left.
    for i, page in enumerate(pages, 1):
        side = "@bottom-right" if i % 2 else "@bottom-left"
        numbers = [texts(x) for x in page.children if isinstance(x, b.MarginBox) and x.at_keyword == side]
        if numbers != [f"— {i} —"]:
            problems.append(f"page {i}: page number {numbers} on {side}")
    return problems


def broken_headers(document) -> list[str]:
    """Column headings of two characters (序号, 排名, 等级…) broken onto two lines: the column is too
    narrow for its own name."""
    b = _boxes()
    found = []
    for cell in [x for page in document.pages for x in page._page_box.descendants() if isinstance(x, b.TableCellBox)
                 and getattr(x, "element_tag", "") == "th"]:
        lines = [texts(line) for line in cell.descendants() if isinstance(line, b.LineBox)]
        if len("".join(lines)) <= 2 and len(lines) > 1:
            found.append("|".join(lines))
    return found


def split_numbers(document) -> list[str]:
    """Cells where a number, a rate or a fraction runs from one line onto the next ("100.00|%",
    "（12/|30）"); a ticket number or a time ending a line is whole."""
    b = _boxes()
    found = []
    for cell in [x for page in document.pages for x in page._page_box.descendants() if isinstance(x, b.TableCellBox)]:
        lines = [texts(line) for line in cell.descendants() if isinstance(line, b.LineBox)]
        found += [f"{a}|{c}" for a, c in pairwise(lines)
                  if re.search(r"[\d.（/]$", a) and re.match(r"[\d.%）/]", c) and not re.search(r"\d{15}$|\d\d:\d\d$", a)]
    return found


def test_no_text_crosses_a_cell_border(long_values, monkeypatch):
    from worker import documents, rendering

    seen, forms = {}, {}
    render_pdf = rendering.render_pdf

    def checked(template, **context):
        document, _ = rendering.render_layout(template, **context)
        seen[template] = cell_problems(document)
        forms[template] = form_problems(document, context) + split_numbers(document) + broken_headers(document)
        return render_pdf(template, **context)

    monkeypatch.setattr(documents, "render_pdf", checked)
    import worker.jobs
    for job, at in (("daily_sheet", "2026-11-13 08:30"), ("daily_sheet", "2026-11-16 08:30"),
                    ("law_push", "2026-11-10 09:00"), ("weekly_bulletin", "2026-11-12 10:00"),
                    ("leader_digest", "2026-11-12 10:00"), ("ticket_reports", "2026-11-12 17:30"),
                    ("escalation_weekly", "2026-11-12 10:00"), ("escalation_monthly", "2026-11-20 10:00"),
                    ("supervision", "2026-11-13 10:00"),
                    ("monthly_analysis", "2026-11-20 10:00"), ("monthly_summary", "2026-11-20 10:00"),
                    ("monthly_law_report", "2026-11-20 10:00"), ("quarterly_report", "2026-11-20 10:00")):
        if job == "quarterly_report":   # the fourth quarter ends with the year
            monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime(2027, 1, 4, 9, 0))
        res = CliRunner().invoke(main, ["run", job, "--inline", "--at", at])
        assert res.exit_code == 0, res.output
    kinds = {t.split("/")[-1].removesuffix(".html") for t in seen}
    templates = {p.stem for p in (PROJECT_ROOT / "templates" / "documents").glob("*.html")} - {"base", "_tickets"}
    assert kinds == templates                      # every template is laid out here
    for template, (problems, _texts) in seen.items():
        assert problems == [], template
    for template, problems in forms.items():
        assert problems == [], template
    # Ticket numbers (15 digits), masked phones, rates and fractions stay whole on one line wherever listed.
    lines = [t for _p, texts in seen.values() for t in texts]
    wholes = ("202611020000008", "202611020000014", "202611110000901", "202611110000903", "138****5678",
              "(0535)668****", "010-1234****")
    for whole in wholes:
        assert any(whole in t for t in lines), whole
        split = [t for t in lines if whole not in t and any(t.endswith(whole[:k]) for k in range(6, len(whole)))]
        assert split == [], f"{whole} split across lines: {split}"
