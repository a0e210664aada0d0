"""Spreadsheets for the people who load our lists into their own systems (openpyxl, write-only).

A sheet is data, not a document: one header row, one row per ticket, dates as real date-times,
codes as text (a 事项编码 such as ``0101`` must keep its zero).  Ticket text is masked as in the
PDF; openpyxl writes every value as data, so nothing in it can become a formula."""
from __future__ import annotations

import io
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .rendering import SATISFACTION_WORDS


def workbook(sheets: list[tuple[str, list[tuple[str, str, int]], Iterable[dict]]]) -> bytes:
    """An XLSX of SHEETS, each (title, columns, rows): COLUMNS are (header, key of the row, width in
    characters), one row per dict."""
    book = Workbook(write_only=True)
    for title, columns, rows in sheets:
        _sheet(book.create_sheet(title[:31]), columns, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(sheet, columns: list[tuple[str, str, int]], rows: Iterable[dict]) -> None:
    for i, (_, _, width) in enumerate(columns, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    header = []
    for name, _, _ in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for _, key, _ in columns:
            value = row.get(key)
            cell = WriteOnlyCell(sheet, value=value)
            if hasattr(value, "hour"):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, str):
                cell.data_type = "s"   # text as text: never a formula, a leading zero kept
            cells.append(cell)
        sheet.append(cells)


LAW_PUSH_COLUMNS = [("工单编号", "number", 18), ("事项编码", "category_code", 10), ("事项类别", "category_name", 14),
                    ("承办单位", "unit_name", 18), ("交办时间", "dispatched_at", 17), ("办结时限", "completion_due", 17),
                    ("办理状态", "status", 9), ("推送原因", "change", 9), ("涉旅研判", "triage", 24), ("诉求内容", "content", 60), ("来电人", "caller_name", 8),
                    ("联系电话", "caller_phone", 14), ("回访评价", "satisfaction_text", 9),
                    ("解决情况", "resolved_text", 9)]


def law_push_rows(rows: list[dict]) -> list[dict]:
    """The daily push's rows with the evaluation in words, as the PDF shows them."""
    out = []
    for row in rows:
        resolved = row.get("resolved")
        out.append(dict(row, satisfaction_text=SATISFACTION_WORDS.get(row.get("satisfaction") or "", ""),
                        resolved_text="" if resolved is None else ("已解决" if resolved else "未解决")))
    return out
