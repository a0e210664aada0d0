"""The centre's daily sheet at any size (issue 33, 1): the counts of every unit and the first serious
cases of each kind in a PDF of at most 12 pages, every list complete in the XLSX of the same message,
archived beside the PDF.

The district below is built by hand; every figure expected is derived from its events and the
calendar (2026: 2-6, 9-13 and 16-20 Nov are working weeks).  The sheet is that of Tue 17 Nov 08:30:
its window opened at the previous working day's sheet, Mon 16 Nov 08:30; its warnings reach the end
of the next working day, Wed 18 Nov 23:59:59.  A city ticket is due 3 working days after the day it
is dispatched, at 23:59:59 (DOMAIN.md); the return window is one working day.
Before issue 33 the sheet of this district ran to 29 pages: its lists held 14 graded, 30 newly overdue,
50 warned, 12 for the analysis group, 12 late returns.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import document_sheets, document_text
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.db import session_scope
from worker.models import Document, DocumentVersion, Unit

AT = "2026-11-17 08:30"
SHIPPED, CONFIGURED = 8, 3   # config/documents.yaml daily_sheet.serious_cases: as shipped, then as set here
UNITS = [f"D{j:02d}" for j in range(1, 11)]
# Dispatched on this day at 09:00 → completion due (3 working days later, 23:59:59).
DUE = {"2026-11-02": "2026-11-05", "2026-11-03": "2026-11-06", "2026-11-04": "2026-11-09", "2026-11-05": "2026-11-10",
       "2026-11-06": "2026-11-11", "2026-11-09": "2026-11-12", "2026-11-10": "2026-11-13", "2026-11-11": "2026-11-16",
       "2026-11-12": "2026-11-17", "2026-11-13": "2026-11-18"}
OLDER = list(DUE)[:7]      # 2-10 Nov: due by 13 Nov, overdue long before the window


def content(n: int) -> str:
    return f"反映观海路{n}号小区内道路破损多处，雨天积水严重，老人孩子出行不便，多次向物业反映未果，请相关部门尽快维修处理。"


@pytest.fixture
def district(db, history, tmp_path, monkeypatch):
    """Ten departments with tickets overdue, warned and new; fourteen graded tickets; twelve
    returned twice; twelve returned late; one new ticket at every other unit of the directory, so
    that the table has them all.  Every ticket has its own caller and address (no repeats)."""
    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    for name in ("calendar.yaml", "schedules.yaml"):
        shutil.copy(PROJECT_ROOT / name, folder / name)
    shutil.copy(PROJECT_ROOT / "db" / "seed" / "district.yaml", folder / "directory.yaml")
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    h, n = history, iter(range(1, 10_000))
    expected = {"overdue": [], "fresh": [], "warned": [], "graded": [], "twice": [], "late": [], "config": folder}

    def ticket(number, received, **kw):
        i = next(n)
        return h.ticket(number, received, phone=f"139{i:08d}", address=f"观海路{i}号", content=kw.pop("text", content(i)), **kw)

    for j, unit in enumerate(UNITS):
        for k in range(3):     # due Mon 16 Nov 23:59:59: overdue since this sheet's window opened
            number = f"OF{j}{k}"
            ticket(number, "2026-11-11 08:00").dispatch("2026-11-11 09:00", unit)
            expected["overdue"].append((DUE["2026-11-11"], number))
            expected["fresh"].append(number)
        for k in range(j):     # overdue for days: D01 none, D10 nine
            day = OLDER[(j + k) % len(OLDER)]
            number = f"OV{j}{k}"
            ticket(number, f"{day} 08:00").dispatch(f"{day} 09:00", unit)
            expected["overdue"].append((DUE[day], number))
        for k, day in enumerate(["2026-11-12"] * 3 + ["2026-11-13"] * 2):   # due 17 or 18 Nov: warned
            ticket(f"WA{j}{k}", f"{day} 08:00").dispatch(f"{day} 09:00", unit)
            expected["warned"].append(f"WA{j}{k}")
        for k in range(2):     # new this morning's window, due Thu 19 Nov
            ticket(f"NW{j}{k}", "2026-11-16 09:00").dispatch("2026-11-16 10:00", unit)
    # Fourteen graded (config/metrics.yaml grading): 重大 (多名: 涉及人数众多) and, received later, two
    # 敏感 (扬言: 极端言行), listed first.
    for k in range(14):
        severe = k >= 12
        text = "有人扬言报复，情绪激动" if severe else "工地拖欠工资，多名工人欠薪"
        number = f"GR{k:02d}"
        ticket(number, f"2026-11-16 12:{k:02d}", text=text).dispatch("2026-11-16 13:00", "S02")
        expected["graded"].append((0 if severe else 1, f"2026-11-16 12:{k:02d}", number))
    # Twelve returned by D11 and D12 on Monday, now at S01: the analysis group's, charged to D11 and D12.
    for k in range(12):
        (ticket(f"RT{k:02d}", "2026-11-16 08:40").dispatch("2026-11-16 09:00", "D11")
         .ret(f"2026-11-16 10:{k:02d}", "D11", "非本单位职责", "D12").dispatch("2026-11-16 11:00", "D12")
         .ret(f"2026-11-16 14:{k:02d}", "D12", "应由属地办理", "S01").dispatch("2026-11-16 15:00", "S01"))
        expected["twice"].append(f"RT{k:02d}")
    # Twelve returned by D13 on Monday though its window closed on Thu 12 Nov; now signed at S03.
    for k in range(12):
        (ticket(f"LR{k:02d}", "2026-11-11 08:00").dispatch("2026-11-11 10:00", "D13").sign("2026-11-11 11:00", "D13")
         .ret(f"2026-11-16 09:{k:02d}", "D13", "非本单位职责", "S03").dispatch(f"2026-11-16 10:{k:02d}", "S03")
         .sign(f"2026-11-16 10:{k + 30:02d}", "S03"))
        expected["late"].append(f"LR{k:02d}")
    for unit in others():
        ticket(f"NX{unit}", "2026-11-16 09:00").dispatch("2026-11-16 10:00", unit)
    h.store()
    expected["overdue"] = [number for _due, number in sorted(expected["overdue"])]   # longest overdue first
    expected["graded"] = [number for *_order, number in sorted(expected["graded"])]  # 敏感 first, then by time
    return expected


def others() -> list[str]:
    """The directory's handling units (db/seed/district.yaml) that the fixture gives no other ticket."""
    with session_scope() as s:
        codes = s.scalars(select(Unit.code).where(Unit.kind.in_(("department", "territorial")))).all()
    return sorted(set(codes) - {*UNITS, "D11", "D12", "D13", "S01", "S02", "S03"})


def counts_by_hand() -> dict[str, tuple[int, int, int, int, int]]:
    """(new, open, warned, overdue, returned twice) per unit, from the fixture's events."""
    rows = {unit: (1, 1, 0, 0, 0) for unit in others()}    # dispatched Mon 16 Nov 10:00, due Thu 19 Nov
    rows.update({unit: (2, 3 + j + 5 + 2, 5, 3 + j, 0) for j, unit in enumerate(UNITS)})
    rows.update({"D11": (12, 0, 0, 0, 12), "D12": (12, 0, 0, 0, 12),   # dispatched in the window, returned
                 "S01": (12, 12, 0, 0, 0), "S02": (14, 14, 0, 0, 0), "S03": (12, 12, 0, 0, 0)})
    return rows


def between(text: str, start: str, end: str | None) -> str:
    part = text[text.index(start):]
    return part[:part.index(end)] if end else part


def listed(section: str, numbers: list[str]) -> list[str]:
    """The numbers among NUMBERS that SECTION names, in the order it names them."""
    return sorted((n for n in numbers if n in section), key=section.index)


def test_the_daily_sheet_of_a_large_district_fits_twelve_pages_and_carries_every_list(district, smtp):
    res = CliRunner().invoke(main, ["run", "daily_sheet", "--inline", "--at", AT])
    assert res.exit_code == 0, res.output
    with session_scope() as s:
        doc = s.scalars(select(Document).where(Document.kind == "daily_sheet")).one()
        version = s.scalars(select(DocumentVersion).where(DocumentVersion.document_id == doc.id)).one()
        names = dict(s.execute(select(Unit.code, Unit.name)).all())
        path, companions = doc.path, version.companions
    info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages <= 12

    text = document_text("daily_sheet", flat=True)
    by_hand, n = counts_by_hand(), len(others())
    totals = [sum(c[i] for c in by_hand.values()) for i in range(4)] + [12]   # RT.. once each
    assert totals == [82 + n, 183 + n, 50, 75, 12]
    assert (f"新交办{82 + n}件，在办{183 + n}件，即将超期（预警）50件，已超期75件（上次调度以来新增30件），"
            "回退两次及以上待研判12件；上次调度以来超时回退12件") in text
    # Units by overdue, then warned, then code; each row: number, name, the five counts.
    order = sorted(by_hand, key=lambda u: (-by_hand[u][3], -by_hand[u][2], u))
    table = between(text, "二、各承办单位办理情况", "三、")
    rows = [f"{i}{names[u]}{''.join(map(str, by_hand[u]))}" for i, u in enumerate(order, 1)]
    rows.append("合计" + "".join(map(str, totals)))
    assert all(row in table for row in rows) and [table.index(row) for row in rows] == sorted(table.index(row) for row in rows)
    serious_cases_listed(text, district, SHIPPED)
    assert "WA" not in text        # the warned tickets are in the XLSX only

    # The XLSX: archived beside the PDF (its digest in the version), every ticket of every list in it.
    data = Path(path).with_suffix(".xlsx").read_bytes()
    assert companions == {"xlsx": hashlib.sha256(data).hexdigest()}
    sheets = document_sheets("daily_sheet")
    numbers = lambda title: [row[0] for row in sheets[title][1:]]
    assert numbers("新增敏感重大事项") == district["graded"]
    assert numbers("超期工单") == district["overdue"]
    assert {row[0] for row in sheets["超期工单"][1:] if row[5] == "是"} == set(district["fresh"])
    assert sorted(numbers("即将超期工单（预警）")) == sorted(district["warned"])
    assert numbers("提交分析研判小组工单") == district["twice"]
    assert numbers("超时回退工单") == district["late"]
    units = {row[0]: tuple(row[1:]) for row in sheets["各承办单位办理情况"][1:]}
    assert units == {**{names[u]: c for u, c in by_hand.items()}, "合计": tuple(totals)}
    # The longest overdue: dispatched Mon 2 Nov, due Thu 5 Nov 23:59:59 — OV43 the first of them by number.
    first = sheets["超期工单"][1]
    assert first[:4] == ("OV43", names["D05"], "办结时限", datetime(2026, 11, 5, 23, 59, 59))

    # The same message carries both: the PDF and the XLSX, byte for byte the archived one.
    assert CliRunner().invoke(main, ["outbox", "send"]).exit_code == 0
    (msg,) = [m for _to, m in smtp.messages if "日调度" in m["Subject"]]
    parts = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    (sheet_name,) = [name for name in parts if name.endswith(".xlsx")]
    assert parts[sheet_name] == data and "完整清单" in sheet_name
    assert any(name.endswith(".pdf") for name in parts)
    assert len(PdfReader(io.BytesIO(next(v for k, v in parts.items() if k.endswith(".pdf")))).pages) == pages
    assert load_workbook(io.BytesIO(parts[sheet_name])).sheetnames[0] == "各承办单位办理情况"

    # The number is the district's: set to 3, the same sheet rendered again lists three of each.
    documents = district_config(district)
    documents.write_text(documents.read_text(encoding="utf-8").replace(
        f"serious_cases: {SHIPPED}", f"serious_cases: {CONFIGURED}"), encoding="utf-8")
    assert CliRunner().invoke(main, ["run", "daily_sheet", "--inline", "--at", AT]).exit_code == 0
    serious_cases_listed(document_text("daily_sheet", flat=True), district, CONFIGURED)


def district_config(district) -> Path:
    return district["config"] / "documents.yaml"


def serious_cases_listed(text: str, district: dict, limit: int) -> None:
    """Each kind of serious case: LIMIT of them, the most serious first, and the count of all."""
    graded = between(text, "一、新增敏感、重大事项", "二、")
    assert f"14件，本表列等级最高的{limit}件" in graded
    assert listed(graded, district["graded"]) == district["graded"][:limit]
    assert district["graded"][:2] == ["GR12", "GR13"]
    overdue = between(text, "三、超期时间最长的工单", "四、")
    assert f"已超期75件，本表列超期最久的{limit}件" in overdue
    assert listed(overdue, district["overdue"]) == district["overdue"][:limit]
    twice = between(text, "四、新增提交分析研判小组工单", "五、")
    assert f"12件，本表列最早提交的{limit}件" in twice
    assert listed(twice, district["twice"]) == district["twice"][:limit]
    late = between(text, "五、超时回退工单", "说明")
    assert f"12件，本表列最早回退的{limit}件" in late
    assert listed(late, district["late"]) == district["late"][:limit]
