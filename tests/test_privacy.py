"""Privacy over everything a (short) demo produces (the run's shared demo, tests/conftest.py ``demo``): no caller phone or name leaves unmasked, and the
justice bureau receives only the selected law-enforcement categories."""
from __future__ import annotations

import email
import re
from email import policy as email_policy
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import create_engine, text

from tests.conftest import _clear_caches, pdf_pages
from worker.config import load_settings


def attachment_text(name: str, data: bytes) -> str:
    import io

    if name.endswith(".xlsx"):
        from openpyxl import load_workbook
        return " ".join(str(v) for sheet in load_workbook(io.BytesIO(data)).worksheets   # every sheet
                        for row in sheet.iter_rows(values_only=True) for v in row if v is not None)
    if name.endswith(".docx"):
        from docx import Document
        doc = Document(io.BytesIO(data))
        return " ".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])
    return ""


def every_message(out: Path, folder: Path, monkeypatch) -> list[Path]:
    """Every message of the demo as the recipient gets it: the .eml files the demo wrote (the first of
    each kind) and the others, still queued, written by the outbox's own preview (``hotline outbox
    send --dry-run``: built as they would be sent, nothing changed) into FOLDER."""
    from worker.db import session_factory
    from worker.delivery import deliver

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{out / 'hotline.db'}")
    _clear_caches()
    try:
        settings = load_settings()
        report = deliver(session_factory(), settings.smtp, folder, dry_run=True, limit=1_000_000)
    finally:
        _clear_caches()
    assert report.refusals == []
    return sorted((out / "outbox").glob("*.eml")) + sorted((folder / "preview").glob("*.eml"))


def test_nothing_leaks_from_a_demo(demo, env, tmp_path, monkeypatch, figures):
    out, _ = demo
    emls = every_message(out, tmp_path / "outbox", monkeypatch)
    engine = create_engine(f"sqlite:///{out / 'hotline.db'}")
    with engine.connect() as conn:
        callers = conn.execute(text("select caller_phone, caller_name from tickets")).all()
        staff = {n for (n,) in conn.execute(text("select name from people"))}
        law_numbers = {n for (n,) in conn.execute(text("select number from tickets where category_code like '20%'"))}
        other_numbers = {n for (n,) in conn.execute(text("select number from tickets where category_code not like '20%'"))}
        messages = conn.execute(text("select count(*) from outbox")).scalar()
    engine.dispose()
    assert len(emls) == messages
    phones = {p for p, _ in callers}
    # A caller whose name is part of a staff member's name (赵玉 in 赵玉兰) cannot be told apart in a greeting.
    names = {n for _, n in callers if n and len(n) >= 2 and not any(n in s for s in staff)}
    texts: dict[str, str] = {}
    for pdf in (out / "documents").rglob("*.pdf"):
        texts[str(pdf)] = "".join(pdf_pages(pdf)).replace("\n", "")
    justice = []
    for eml in emls:
        msg = email.message_from_bytes(eml.read_bytes(), policy=email_policy.default)
        body = msg.get_body(("plain",)).get_content() + msg.get_body(("html",)).get_content()
        texts[str(eml)] = str(msg["Subject"]) + str(msg["To"]) + body
        for part in msg.iter_attachments():   # the data and editable copies: spreadsheets, DOCX
            texts[f"{eml}:{part.get_filename()}"] = attachment_text(part.get_filename(), part.get_content())
        if "justice@example.gov.cn" in str(msg["To"]):
            justice.append(msg)
    assert len(texts) > 50
    leaks = [(where, p) for where, t in texts.items() for p in phones if p in t]
    leaks += [(where, n) for where, t in texts.items() for n in names if n in t]
    figures("privacy: documents and messages scanned", len(texts))
    figures("privacy: unmasked callers found", len(leaks))
    assert leaks == []
    masked = re.compile(r"1[3-9]\d\*{4}\d{4}")
    assert any(masked.search(t) for t in texts.values())
    # The justice bureau's documents: only tickets of the selected 事项编码.
    assert justice
    for msg in justice:
        for part in msg.iter_attachments():
            if not part.get_filename().endswith(".pdf"):
                continue   # the push's XLSX: tests/test_policy_figures.py reads its rows
            content = "".join(p.extract_text() for p in PdfReader(__import__("io").BytesIO(part.get_content())).pages)
            numbers = set(re.findall(r"\d{15}", content))
            assert numbers <= law_numbers and not numbers & other_numbers
    assert Path(out / "hotline.db").exists()
