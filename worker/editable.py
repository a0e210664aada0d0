"""The editable copy (电子版) of a per-ticket report, as DOCX (python-docx), from the same content model
as its PDF (``worker.tasks.tickets.report``) and in the same form (GB/T 9704): A4 with 天头 37 mm,
订口 28 mm; title 二号 (22 pt) 小标宋 broken into the same lines; body 三号 (16 pt) 仿宋 on 28.9 pt
lines; headings 黑体; tables 小四 (12 pt) or 四号 (14 pt) as in the PDF; the signature lines, the seals
of the 落款 with the date four characters from the right, 附注; page numbers 「— N —」 in 四号 on the
outside edge (odd pages right, even pages left).  The fonts are named as a district's Word has them;
the PDF uses the configured substitutes.  Text goes in as text: python-docx escapes it, nothing in a
ticket can become markup."""
from __future__ import annotations

import io
from datetime import date

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

BODY_FONT, HEADING_FONT, TITLE_FONT, NUMBER_FONT = "仿宋_GB2312", "黑体", "方正小标宋简体", "宋体"
LINE = Pt(28.9)   # 22 lines in the 225 mm 版心


def _font(run, name: str, size: float, bold: bool = False) -> None:
    run.font.name, run.font.size, run.font.bold = name, Pt(size), bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)   # CJK text uses the east-Asian font


def _paragraph(container, text: str, font: str = BODY_FONT, size: float = 16, bold: bool = False,
               align=None, indent: float = 2, right: float = 0, line=LINE):
    p = container.add_paragraph()
    fmt = p.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(0), Pt(0), line
    if align is not None:
        p.alignment = align
    if indent:
        fmt.first_line_indent = Pt(size * indent)   # 首行缩进两字
    if right:
        fmt.right_indent = Pt(16 * right)
    lines = text.split("\n")
    for i, part in enumerate(lines):
        run = p.add_run(part)
        _font(run, font, size, bold)
        if i < len(lines) - 1:
            run.add_break()
    return p


def _page_number(footer, align) -> None:
    """「— N —」: the PAGE field between two dashes, one character from the outside edge."""
    p = footer.paragraphs[0]
    p.alignment = align
    p.paragraph_format.left_indent = p.paragraph_format.right_indent = Pt(14)
    _font(p.add_run("— "), NUMBER_FONT, 14)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    p._p.append(field)
    _font(p.add_run(" —"), NUMBER_FONT, 14)


def _table(doc, table: dict) -> None:
    size = 14 if table.get("form") else 12
    grid = doc.add_table(rows=1, cols=len(table["columns"]))
    grid.style = "Table Grid"
    for cell, name, width in zip(grid.rows[0].cells, table["columns"], table["widths"], strict=True):
        cell.width = Mm(156 * width / 100)
        cell.paragraphs[0]._p.getparent().remove(cell.paragraphs[0]._p)
        _paragraph(cell, name, HEADING_FONT, size, align=WD_ALIGN_PARAGRAPH.CENTER, indent=0, line=Pt(size * 1.5))
    for row in table["rows"] or [["无"] + [""] * (len(table["columns"]) - 1)]:
        cells = grid.add_row().cells
        for cell, value, width in zip(cells, row, table["widths"], strict=True):
            cell.width = Mm(156 * width / 100)
            cell.paragraphs[0]._p.getparent().remove(cell.paragraphs[0]._p)
            _paragraph(cell, str(value), BODY_FONT, size, indent=0, line=Pt(size * 1.5))


def docx_report(content: dict, *, date: date) -> bytes:
    """The report of CONTENT (see ``worker.tasks.tickets.report``), dated DATE, as DOCX bytes."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin, section.left_margin, section.right_margin = Mm(37), Mm(35), Mm(28), Mm(26)
    section.footer_distance = Mm(28)
    section.gutter = Mm(0)
    doc.settings.odd_and_even_pages_header_footer = True
    _page_number(section.footer, WD_ALIGN_PARAGRAPH.RIGHT)
    _page_number(section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)
    mark = "代拟稿" + ("（阶段性报告，待回访后续报）" if content["interim"] else "")
    _paragraph(doc, mark, HEADING_FONT, 16, bold=True, indent=0)
    _paragraph(doc, "", indent=0)
    _paragraph(doc, "\n".join(content["title_lines"]), TITLE_FONT, 22, align=WD_ALIGN_PARAGRAPH.CENTER, indent=0,
               line=Pt(33))
    _paragraph(doc, "", indent=0)
    if content.get("to"):
        _paragraph(doc, f"{content['to']}：", indent=0)
    for part in content["sections"]:
        if part.get("heading"):
            _paragraph(doc, part["heading"], HEADING_FONT, 16)
        for text in part.get("paragraphs") or []:
            _paragraph(doc, text)
        if part.get("table"):
            _table(doc, part["table"])
    if content.get("closing"):
        _paragraph(doc, content["closing"])
    for line in content.get("sign_lines") or []:
        _paragraph(doc, line)
    if content.get("seals"):
        _paragraph(doc, "", indent=0)
        for seal in content["seals"]:
            _paragraph(doc, seal, align=WD_ALIGN_PARAGRAPH.RIGHT, indent=0, right=4)
        _paragraph(doc, f"{date.year}年{date.month}月{date.day}日", align=WD_ALIGN_PARAGRAPH.RIGHT, indent=0, right=4)
    if content.get("annotation"):
        _paragraph(doc, f"（{content['annotation']}）")
    _lean(doc)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# Parts of python-docx's default template a report never uses: Word 2010's copy of the styles, a
# thumbnail of an empty page, its custom XML, its list numbering (whose levels name list styles the
# report drops); 28 KB of a report's 39 KB were these and the unused styles.
UNUSED_PARTS = ("http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects", RT.CUSTOM_XML,
                RT.THUMBNAIL, RT.NUMBERING)


def _lean(doc) -> None:
    """The report without the template's unused parts and styles: only the styles the document,
    its footers and their ``basedOn``/``link``/``next`` chains name, and the defaults, are kept."""
    for owner in (doc.part.package, doc.part):
        for rel_id, rel in list(owner.rels.items()):
            if rel.reltype in UNUSED_PARTS:
                del owner.rels[rel_id]
    styles = doc.styles.element
    for latent in styles.findall(qn("w:latentStyles")):
        styles.remove(latent)
    parts = [doc.element, *(f.part.element for s in doc.sections for f in (s.footer, s.even_page_footer))]
    wanted = {el.get(qn("w:val")) for part in parts for tag in ("w:pStyle", "w:rStyle", "w:tblStyle")
              for el in part.iter(qn(tag))}
    by_id = {st.get(qn("w:styleId")): st for st in styles.findall(qn("w:style"))}
    wanted |= {sid for sid, st in by_id.items() if st.get(qn("w:default")) == "1"}
    todo = list(wanted)
    while todo:
        st = by_id.get(todo.pop())
        for tag in ("w:basedOn", "w:link", "w:next"):
            el = st.find(qn(tag)) if st is not None else None
            if el is not None and el.get(qn("w:val")) not in wanted:
                wanted.add(el.get(qn("w:val")))
                todo.append(el.get(qn("w:val")))
    for sid, st in by_id.items():
        if sid not in wanted:
            styles.remove(st)
