"""Attachments stored once: a document attached to messages lives in the archive (documents/), the
outbox refers to it by hash; only what is not an archived document (data files, editable copies)
keeps a copy of its own in the database."""
from __future__ import annotations

import email
import hashlib
from email import policy as email_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from worker.cli import main
from worker.config import load_settings
from worker.db import session_scope
from worker.mail import AttachmentMissing, attachment_data
from worker.models import Blob, DocumentVersion, OutboxMessage


def test_a_letter_is_stored_once_and_sent_whole_from_the_archive(sqlite_db, history):
    for n, unit in enumerate(("D20", "D21")):   # overdue at two units: a letter for each, to several people
        (history.ticket(f"L{n}", "2026-11-09 09:00", phone=f"1391234567{n}").dispatch("2026-11-09 10:00", unit))
    history.store()
    assert CliRunner().invoke(main, ["run", "supervision", "--inline", "--at", "2026-11-13 10:00"]).exit_code == 0
    with session_scope() as s:
        versions = {v.sha256: v.path for v in s.scalars(select(DocumentVersion))}
        attached = [a["sha256"] for m in s.scalars(select(OutboxMessage)) for a in m.attachments
                    if a["name"].endswith(".pdf")]
        blobs = s.scalar(select(func.count()).select_from(Blob).where(Blob.sha256.in_(list(versions))))
    assert len(versions) == 2 and set(attached) == set(versions) and len(attached) > len(versions)
    assert blobs == 0                                   # no document's bytes in the database
    assert CliRunner().invoke(main, ["outbox", "send"]).exit_code == 0
    files = list(load_settings().outbox_dir.glob("*.eml"))
    assert len(files) == len(attached)
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email_policy.default)
        [pdf] = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
        data = pdf.get_content()
        assert Path(versions[hashlib.sha256(data).hexdigest()]).read_bytes() == data


def test_an_archived_document_changed_or_gone_is_named(sqlite_db, history):
    (history.ticket("L1", "2026-11-09 09:00").dispatch("2026-11-09 10:00", "D20"))
    history.store()
    assert CliRunner().invoke(main, ["run", "supervision", "--inline", "--at", "2026-11-13 10:00"]).exit_code == 0
    with session_scope() as s:
        version = s.scalars(select(DocumentVersion)).one()
        assert hashlib.sha256(attachment_data(s, version.sha256)).hexdigest() == version.sha256
        Path(version.path).write_bytes(b"%PDF-1.7 something else")
        with pytest.raises(AttachmentMissing, match=f"{version.path} is missing or was changed"):
            attachment_data(s, version.sha256)
        Path(version.path).unlink()
        with pytest.raises(AttachmentMissing, match=f"{version.path} is missing or was changed"):
            attachment_data(s, version.sha256)


def test_a_ticket_reports_editable_copy_is_read_from_beside_its_pdf(sqlite_db, history):
    (history.ticket("N1", "2026-11-16 08:00", source="national", category="1002")
     .dispatch("2026-11-16 09:00", "D18").sign("2026-11-16 10:00", "D18")
     .reply("2026-11-17 15:00", "D18", note="已立案查处。").review("2026-11-17 17:00"))
    history.store()
    assert CliRunner().invoke(main, ["run", "ticket_reports", "--inline", "--at", "2026-11-18 18:00"]).exit_code == 0
    with session_scope() as s:
        [message] = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ticket_report")).all()
        [pdf_path] = s.scalars(select(DocumentVersion.path)).all()
        assert s.scalar(select(func.count()).select_from(Blob)) == 0          # neither the PDF nor the DOCX
    docx = Path(pdf_path).with_suffix(".docx")
    assert sorted(Path(a["name"]).suffix for a in message.attachments) == [".docx", ".pdf"]
    assert CliRunner().invoke(main, ["outbox", "send"]).exit_code == 0
    [eml] = load_settings().outbox_dir.glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email_policy.default)
    parts = {Path(p.get_filename()).suffix: p.get_content() for p in msg.iter_attachments()}
    assert parts == {".pdf": Path(pdf_path).read_bytes(), ".docx": docx.read_bytes()}
