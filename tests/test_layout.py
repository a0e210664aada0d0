"""Layout: no text crosses a cell border in any document kind, with the longest realistic values,
and a ticket number or a phone number is never split across lines (WeasyPrint's layout boxes)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from worker.cli import main
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


def test_no_text_crosses_a_cell_border(long_values, monkeypatch):
    from worker import documents, rendering

    seen = {}
    render_pdf = rendering.render_pdf

    def checked(template, **context):
        document, _ = rendering.render_layout(template, **context)
        seen[template] = cell_problems(document)
        return render_pdf(template, **context)

    monkeypatch.setattr(documents, "render_pdf", checked)
    import worker.jobs
    for job, at in (("daily_sheet", "2026-11-13 08:30"), ("daily_sheet", "2026-11-16 08:30"),
                    ("law_push", "2026-11-10 09:00"), ("weekly_bulletin", "2026-11-12 10:00"),
                    ("escalation_weekly", "2026-11-12 10:00"), ("supervision", "2026-11-13 10:00"),
                    ("monthly_analysis", "2026-11-20 10:00"), ("monthly_summary", "2026-11-20 10:00"),
                    ("monthly_law_report", "2026-11-20 10:00"), ("quarterly_report", "2026-11-20 10:00")):
        if job == "quarterly_report":   # the fourth quarter ends with the year
            monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime(2027, 1, 4, 9, 0))
        res = CliRunner().invoke(main, ["run", job, "--inline", "--at", at])
        assert res.exit_code == 0, res.output
    kinds = {t.split("/")[-1].removesuffix(".html") for t in seen}
    assert kinds == {"daily_sheet", "law_push", "weekly_bulletin", "interview_notice", "supervision_letter",
                     "monthly_analysis", "monthly_summary", "law_report"}
    for template, (problems, _texts) in seen.items():
        assert problems == [], template
    # Ticket numbers (15 digits) and masked phones stay whole on one line wherever they are listed.
    lines = [t for _p, texts in seen.values() for t in texts]
    wholes = ("202611020000008", "202611020000014", "202611110000901", "202611110000903", "138****5678",
              "(0535)668****", "010-1234****")
    for whole in wholes:
        assert any(whole in t for t in lines), whole
        split = [t for t in lines if whole not in t and any(t.endswith(whole[:k]) for k in range(6, len(whole)))]
        assert split == [], f"{whole} split across lines: {split}"
