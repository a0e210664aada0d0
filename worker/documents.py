"""Storing rendered documents: file by content, row in the ledger, issue numbers that continue."""
from __future__ import annotations

from sqlalchemy import func, select

from .config import policy
from .models import Document, Unit
from .rendering import render_pdf, sha256
from .times import now_local


def organisation() -> dict:
    """Header, issuer and government office from ``config/documents.yaml``."""
    return policy("documents")


def unit_names(session) -> dict[str, str]:
    return dict(session.execute(select(Unit.code, Unit.name)).all())


def issue_number(session, kind: str, scope: str) -> int:
    """The document's 第 N 期: kept when the same period is rendered again, else the next number."""
    existing = session.scalar(select(Document.issue_no).where(Document.kind == kind, Document.scope == scope))
    if existing is not None:
        return existing
    return (session.scalar(select(func.max(Document.issue_no)).where(Document.kind == kind)) or 0) + 1


def store(ctx, *, kind: str, scope: str, title: str, template: str, numbered: bool = False,
          header: str | None = None, issuer: str | None = None, file_name: str | None = None,
          **context) -> tuple[Document, bytes]:
    session = ctx.session
    issue_no = issue_number(session, kind, scope) if numbered else None
    org = organisation()
    doc_meta = {"header": header or org["header"], "issuer": issuer or org["issuer"], "title": title, "date": ctx.issue_date, "issue_no": issue_no}
    pdf, refused = render_pdf(template, doc=doc_meta, **context)
    digest = sha256(pdf)
    folder = ctx.settings.documents_dir / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (file_name or f"{scope}.pdf").replace("/", "_")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)
    doc = session.scalars(select(Document).where(Document.kind == kind, Document.scope == scope)).first()
    if doc is None:
        doc = Document(kind=kind, scope=scope, issue_no=issue_no)
        session.add(doc)
    doc.run_id, doc.title, doc.path, doc.sha256, doc.created_at = ctx.run.id, title, str(path), digest, now_local()
    session.flush()
    ctx.summary.setdefault("documents", []).append({"kind": kind, "path": str(path), "sha256": digest,
                                                    "issue_no": issue_no})
    if refused:
        ctx.summary.setdefault("refused_urls", 0)
        ctx.summary["refused_urls"] += len(refused)
    return doc, pdf


def pdf_name(title: str, period_label: str) -> str:
    return f"{title}（{period_label}）.pdf"


