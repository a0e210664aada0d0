"""Storing rendered documents: who issues them, their number and date, file and ledger row.

A document's issuing body, its red header, the e-mail's sender name and signature all come from
``config/documents.yaml`` for its kind (one voice per message).  A document is dated the working
day it is issued (``JobContext.issue_date``); its number (发文字号, per kind and year) and its issue
number (第 N 期) are given once and kept, with the date, when the same period is rendered again.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import delete, func, insert, select

from .config import ConfigError, load_settings, policy
from .models import Document, DocumentTicket, DocumentVersion, Ticket, Unit
from .rendering import render_pdf, sha256
from .times import now_local


def _fill(text, cfg: dict) -> str:
    return str(text).replace("{district}", str(cfg.get("district", ""))).replace("{short}", str(cfg.get("short", "")))


def organisation(kind: str) -> dict:
    """Issuer (also the red header, the e-mail's sender name and signature), number prefix, 抄送 and
    印发机关 of a kind of document, with the district's name filled in."""
    cfg = policy("documents")
    where = load_settings().config_dir / "documents.yaml"
    issuers = {k: _fill(v, cfg) for k, v in (cfg.get("issuers") or {}).items()}
    spec = (cfg.get("kinds") or {}).get(kind) or {}
    name = spec.get("issuer", "centre")
    if name not in issuers:
        raise ConfigError(f"{where}: kinds.{kind}.issuer: {name!r} is not one of issuers ({', '.join(issuers)})")
    named = lambda key: issuers.get(key, _fill(key, cfg))
    issuer = issuers[name]
    return {"district": str(cfg.get("district", "")), "issuer": issuer, "header": issuer, "sender_name": issuer,
            "signature": issuer, "number_prefix": _fill(spec["number_prefix"], cfg) if spec.get("number_prefix") else None,
            "cc": [named(c) for c in spec.get("cc") or []],
            "printer": named(spec["printer"]) if spec.get("printer") else None}


def contact() -> dict:
    """Whom units report back to (办理情况反馈, 书面材料): office, name, phone, e-mail."""
    cfg = policy("documents")
    return {k: _fill(v, cfg) for k, v in (cfg.get("contact") or {}).items()}


def unit_names(session) -> dict[str, str]:
    return dict(session.execute(select(Unit.code, Unit.name)).all())


def issue_number(session, kind: str, scope: str) -> int:
    """The document's 第 N 期: kept when the same period is rendered again, else the next number."""
    existing = session.scalar(select(Document.issue_no).where(Document.kind == kind, Document.scope == scope))
    if existing is not None:
        return existing
    return (session.scalar(select(func.max(Document.issue_no)).where(Document.kind == kind)) or 0) + 1


def moment_of(ctx, kind: str, scope: str) -> datetime:
    """The moment a document speaks of (DOMAIN.md "As of a moment"): the run's, or — rendered
    again — the one it was first issued at, so that it reads as it did then."""
    first = ctx.session.scalar(select(Document.issued_at).where(Document.kind == kind, Document.scope == scope))
    return first or ctx.moment


def document_number(prefix: str | None, year: int | None, number: int | None) -> str | None:
    """发文字号: 莱热线督〔2026〕12号."""
    return f"{prefix}〔{year}〕{number}号" if prefix and year and number else None


def document_label(doc: Document) -> str:
    """How a message cites its document: the 发文字号, else the 第 N 期, else its title."""
    org = organisation(doc.kind)
    return document_number(org["number_prefix"], doc.doc_year, doc.doc_no) or (
        f"第{doc.issue_no}期" if doc.issue_no else doc.title)


def store(ctx, *, kind: str, scope: str, title: str, template: str, numbered: bool = False,
          **context) -> tuple[Document, bytes]:
    session = ctx.session
    org = organisation(kind)
    doc = session.scalars(select(Document).where(Document.kind == kind, Document.scope == scope)).first()
    if doc is None:
        doc = Document(kind=kind, scope=scope, issue_no=issue_number(session, kind, scope) if numbered else None,
                       issued_on=ctx.issue_date, issued_at=ctx.moment)
        if org["number_prefix"]:
            doc.doc_year = doc.issued_on.year
            doc.doc_no = (session.scalar(select(func.max(Document.doc_no)).where(
                Document.kind == kind, Document.doc_year == doc.doc_year)) or 0) + 1
        session.add(doc)
    issued_on: date = doc.issued_on or ctx.issue_date
    doc_meta = {"header": org["header"], "issuer": org["issuer"], "title": title, "date": issued_on,
                "issue_no": doc.issue_no, "number": document_number(org["number_prefix"], doc.doc_year, doc.doc_no),
                "cc": org["cc"], "printer": org["printer"], "district": org["district"]}
    pdf, refused = render_pdf(template, doc=doc_meta, **context)
    digest = sha256(pdf)
    doc.run_id, doc.title, doc.sha256, doc.created_at = ctx.run.id, title, digest, now_local()
    doc.path = doc.path or ""
    session.flush()
    doc.path = str(_keep_version(ctx, doc, kind, scope, pdf, digest))
    _name_tickets(session, doc, context)
    session.flush()
    ctx.summary.setdefault("documents", []).append({"kind": kind, "path": doc.path, "sha256": digest,
                                                    "issue_no": doc.issue_no, "number": doc_meta["number"]})
    if refused:
        ctx.summary.setdefault("refused_urls", 0)
        ctx.summary["refused_urls"] += len(refused)
    return doc, pdf


def _ticket_references(value, ids: set, numbers: set, depth: int = 0) -> None:
    """The tickets a document's context names: ``ticket_id`` and ``number`` of the rows it lists
    (plain dicts and lists, as the detections and the ledgers hand them to the templates)."""
    if depth > 6:
        return
    if isinstance(value, dict):
        if isinstance(value.get("ticket_id"), int):
            ids.add(value["ticket_id"])
        if isinstance(value.get("number"), str):
            numbers.add(value["number"])
        for item in value.values():
            if isinstance(item, (dict, list, tuple)):
                _ticket_references(item, ids, numbers, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _ticket_references(item, ids, numbers, depth + 1)


def _name_tickets(session, doc: Document, context: dict) -> None:
    """Keep which tickets the document names (``DocumentTicket``), as of its latest rendering."""
    ids, numbers = set(), set()
    _ticket_references(context, ids, numbers)
    session.execute(delete(DocumentTicket).where(DocumentTicket.document_id == doc.id))
    if not ids and not numbers:
        return
    # Two indexed lookups (an OR of the two would read the whole table).
    found = set(session.scalars(select(Ticket.id).where(Ticket.id.in_(ids)))) if ids else set()
    if numbers:
        found.update(session.scalars(select(Ticket.id).where(Ticket.number.in_(numbers))))
    if found:
        session.execute(insert(DocumentTicket), [{"document_id": doc.id, "ticket_id": t} for t in sorted(found)])


def _keep_version(ctx, doc: Document, kind: str, scope: str, pdf: bytes, digest: str) -> Path:
    """The file of this rendering: the latest version's when the bytes are the same, else a new
    version ``<kind>/<key>/v<N>.pdf`` (written atomically); an earlier version is never touched."""
    latest = ctx.session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == doc.id)
                                 .order_by(DocumentVersion.version.desc()).limit(1)).first()
    if latest is not None and latest.sha256 == digest and Path(latest.path).exists():
        return Path(latest.path)
    number = (latest.version + 1) if latest is not None else 1
    folder = ctx.settings.documents_dir / kind / scope.replace("/", "_").replace(":", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{number}.pdf"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)
    ctx.session.add(DocumentVersion(document_id=doc.id, version=number, path=str(path), sha256=digest,
                                    run_id=ctx.run.id, created_at=now_local()))
    return path


def pdf_name(title: str, period_label: str) -> str:
    return f"{title}（{period_label}）.pdf"
