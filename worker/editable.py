"""The editable copy (电子版) of a report, as DOCX (python-docx), from the same sections as its PDF.

The centre edits and forwards it; so it is plain Word: the issuer as a red header line, the title,
headings, paragraphs and tables in the document fonts (仿宋/黑体 names first, the Noto faces the
PDF uses as fallbacks on machines without them), the signature and date at the end.  Text goes in
as text: python-docx escapes it, nothing in a ticket can become markup."""
from __future__ import annotations

import io
from datetime import date

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor

BODY_FONT, HEADING_FONT, TITLE_FONT = "仿宋_GB2312", "黑体", "方正小标宋简体"


def _font(run, name: str, size: float, bold: bool = False, color: RGBColor | None = None) -> None:
    run.font.name, run.font.size, run.font.bold = name, Pt(size), bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)   # CJK text uses the east-Asian font
    if color is not None:
        run.font.color.rgb = color


def _paragraph(doc, text: str, font: str = BODY_FONT, size: float = 16, bold: bool = False,
               align=None, color: RGBColor | None = None, indent: bool = True):
    p = doc.add_paragraph()
    if align is not None:
        p.alignment = align
    if indent:
        p.paragraph_format.first_line_indent = Pt(size * 2)   # 首行缩进两字
    _font(p.add_run(text), font, size, bold, color)
    return p


def docx_report(title: str, sections: list[dict], *, issuer: str, header: str, date: date) -> bytes:
    doc = Document()
    _paragraph(doc, header, TITLE_FONT, 26, color=RGBColor(0xC0, 0x00, 0x00), align=WD_ALIGN_PARAGRAPH.CENTER,
               indent=False)
    _paragraph(doc, title, TITLE_FONT, 22, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False)
    for section in sections:
        if section.get("heading"):
            _paragraph(doc, section["heading"], HEADING_FONT, 16, indent=True)
        for text in section.get("paragraphs") or []:
            _paragraph(doc, text)
        table = section.get("table")
        if table:
            grid = doc.add_table(rows=1, cols=len(table["columns"]))
            grid.style = "Table Grid"
            for cell, name in zip(grid.rows[0].cells, table["columns"], strict=True):
                cell.text = ""
                _font(cell.paragraphs[0].add_run(name), HEADING_FONT, 12)
            for row in table["rows"]:
                cells = grid.add_row().cells
                for cell, value in zip(cells, row, strict=True):
                    cell.text = ""
                    _font(cell.paragraphs[0].add_run(str(value)), BODY_FONT, 12)
    _paragraph(doc, issuer, align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False)
    _paragraph(doc, f"{date.year}年{date.month}月{date.day}日", align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
