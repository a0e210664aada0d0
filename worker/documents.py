"""Storing rendered documents: who issues them, their number and date, file and ledger row.

A document's issuing body, its red header, the e-mail's sender name and signature all come from
``config/documents.yaml`` for its kind (one voice per message).  A document is dated the working
day it is issued (``JobContext.issue_date``); its number (发文字号, per kind and year) and its issue
number (第 N 期) are given once and kept, with the date, when the same period is rendered again.
"""
from __future__ import annotations

from datetime import date, datetime
from itertools import pairwise
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from .config import ConfigError, load_settings, policy
from .jobs import JobContext
from .models import Category, Document, DocumentTicket, DocumentVersion, Ticket, Unit
from .policy_schema import Contact, Documents, Kind
from .rendering import render_pdf, sha256
from .times import now_local


def _fill(text, cfg: Documents) -> str:
    return str(text).replace("{district}", cfg.district).replace("{short}", cfg.short)


def organisation(kind: str) -> dict:
    """Issuer (also the red header, the e-mail's sender name and signature), number prefix, the
    drafting and contact body (附注), 抄送, 印发机关, a fixed 主送 and whether the service only drafts
    it (代拟稿), of a kind of document, with the district's name filled in."""
    cfg = policy.documents()
    issuers = {k: _fill(v, cfg) for k, v in cfg.issuers.items()}
    spec = cfg.kinds.get(kind) or Kind()
    name = spec.issuer
    if name not in issuers:   # a kind not listed, whose default issuer the file does not name
        where = load_settings().config_dir / "documents.yaml"
        raise ConfigError(f"{where}: kinds.{kind}.issuer: {name!r} is not one of issuers ({', '.join(issuers)})")
    named = lambda key: issuers.get(key, _fill(key, cfg))
    issuer = issuers[name]
    return {"district": cfg.district, "issuer": issuer, "header": issuer, "sender_name": issuer,
            "signature": issuer, "number_prefix": _fill(spec.number_prefix, cfg) if spec.number_prefix else None,
            "contact": named(spec.contact) if spec.contact else None,
            "cc": [named(c) for c in spec.cc],
            "printer": named(spec.printer) if spec.printer else None,
            "to": _fill(spec.to, cfg) if spec.to else None, "draft": spec.draft}


def distribution(groups: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """The 版记's 报 / 送 / 发 lines naming the recipient GROUPS of a document without a 主送
    (``distribution`` in config/documents.yaml), in that order; a group not listed there is not named."""
    cfg = policy.documents()
    named: dict[str, list[str]] = {"报": [], "送": [], "发": []}
    for group in groups:
        for word, name in cfg.distribution.get(group, {}).items():
            name = _fill(name, cfg)
            if name not in named[word]:
                named[word].append(name)
    return [(word, "，".join(names)) for word, names in named.items() if names]


# 二号 (22 pt) title characters on a line of the 版心 (156 mm = 442 pt): 20.
TITLE_CHARACTERS = 20


def _em(text: str) -> float:
    """Width in title characters: digits and Latin letters are half-width."""
    return sum(0.55 if ord(c) < 0x2E80 else 1.0 for c in text)


def title_lines(title: str, words=(), per_line: float = TITLE_CHARACTERS) -> list[str]:
    """A title broken between words into balanced lines (GB/T 9704 7.2.4: 回行时，要做到词意完整，
    排列对称，长短适宜…使用梯形或菱形).  A line may end after a leading 关于, after 、 and ，, before （
    and after ）, and around any of WORDS (the configured title words, the directory's names); never
    inside one of them.  The fewest lines, then the most even ones, shaped as a trapezoid or diamond."""
    candidates = {0, len(title)}
    if title.startswith("关于"):
        candidates.add(2)
    for i, ch in enumerate(title):
        if ch in "、，）":
            candidates.add(i + 1)
        elif ch == "（":
            candidates.add(i)
    spans = []
    for word in {w for w in words if w and len(w) > 1}:
        start = title.find(word)
        while start >= 0:
            spans.append((start, start + len(word)))
            candidates.update((start, start + len(word)))
            start = title.find(word, start + 1)
    # Never inside a word, never before a closing mark nor after an opening one (避头尾).
    cuts = sorted(c for c in candidates if not any(a < c < b for a, b in spans)
                  and not (0 < c < len(title) and (title[c] in "、，。；：）" or title[c - 1] == "（")))
    best = _balanced(title, cuts, per_line)
    if best is None:   # a word longer than a line: it alone may break anywhere
        inside = {i for a, b in pairwise(cuts) if _em(title[a:b]) > per_line for i in range(a + 1, b)}
        best = _balanced(title, sorted(set(cuts) | inside), per_line)
    return best or [title]


def _balanced(title: str, cuts: list[int], per_line: float) -> list[str] | None:
    best, best_score = None, None

    def walk(at: int, lines: list[str]):
        nonlocal best, best_score
        if at == len(cuts) - 1:
            widths = [_em(line) for line in lines]
            peak = widths.index(max(widths))
            shaped = all(a <= b for a, b in pairwise(widths[:peak + 1])) and \
                all(a >= b for a, b in pairwise(widths[peak:]))
            score = (len(lines), not shaped, max(widths) - min(widths), max(widths))
            if best_score is None or score < best_score:
                best, best_score = list(lines), score
            return
        for nxt in range(at + 1, len(cuts)):
            line = title[cuts[at]:cuts[nxt]]
            if _em(line) > per_line + 0.01:
                break
            if best_score is not None and len(lines) + 1 > best_score[0]:
                break
            walk(nxt, [*lines, line])

    walk(0, [])
    return best


def contact() -> Contact:
    """Whom units report back to (办理情况反馈, 书面材料): office, name, phone, e-mail (blank when none)."""
    cfg = policy.documents()
    given = cfg.contact
    return given.model_copy(update={k: _fill(v or "", cfg) for k, v in given})


def issue_number(session: Session, kind: str, scope: str) -> int:
    """The document's 第 N 期: kept when the same period is rendered again, else the next number."""
    existing = session.scalar(select(Document.issue_no).where(Document.kind == kind, Document.scope == scope))
    if existing is not None:
        return existing
    return (session.scalar(select(func.max(Document.issue_no)).where(Document.kind == kind)) or 0) + 1


def moment_of(ctx: JobContext, kind: str, scope: str) -> datetime:
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


def title_words(session: Session) -> list[str]:
    """The words a title line may not break: the configured ones and the directory's unit and category names."""
    return [*policy.documents().title_words, *session.scalars(select(Unit.name)),
            *session.scalars(select(Category.name))]


def annotation(org: dict) -> str | None:
    """附注 of a document another body drafted and answers for: 联系单位、联系人、电话."""
    if not org["contact"]:
        return None
    office = contact()
    return (f"联系单位：{office.office or org['contact']}，联系人：{office.name}，"
            f"联系电话：{office.phone}")


def reserve(ctx: JobContext, *, kind: str, scope: str, title: str, numbered: bool = False) -> Document:
    """The document of KIND and SCOPE with its number and date: found, or made with the next number
    of its kind (第 N 期 when NUMBERED; the 发文字号 of the year when the kind has a prefix) and the
    run's date and moment.  ``store`` reserves before rendering; a run whose documents are rendered
    by its parts, in parallel, reserves them itself beforehand, in order, so that two parts never
    take the same number (each would read the same largest one).  A document reserved and not yet
    rendered has no file (``path`` empty) and no version."""
    session = ctx.session
    doc = session.scalars(select(Document).where(Document.kind == kind, Document.scope == scope)).first()
    if doc is not None:
        return doc
    org, issue_date = organisation(kind), ctx.issue_date
    doc = Document(kind=kind, scope=scope, issue_no=issue_number(session, kind, scope) if numbered else None,
                   issued_on=issue_date, issued_at=ctx.moment, title=title, path="", sha256="", run_id=ctx.run.id,
                   created_at=now_local())
    if org["number_prefix"]:
        doc.doc_year = issue_date.year
        doc.doc_no = (session.scalar(select(func.max(Document.doc_no)).where(
            Document.kind == kind, Document.doc_year == doc.doc_year)) or 0) + 1
    session.add(doc)
    session.flush()
    return doc


def store(ctx: JobContext, *, kind: str, scope: str, title: str, template: str, numbered: bool = False, to: str | None = None,
          recipients: list[str] | tuple[str, ...] = (), extra_cc: list[str] | tuple[str, ...] = (),
          companions: dict[str, bytes] | None = None, **context) -> tuple[Document, bytes]:
    """Render and archive a document.  TO is its 主送 (else the kind's configured one); a document
    without a 主送 names RECIPIENTS (the schedule's groups) in its 版记 as 报/送/发; EXTRA_CC are
    抄送 besides the kind's.  COMPANIONS (suffix → bytes: the push's XLSX, a report's DOCX) are kept
    beside the version's PDF."""
    session = ctx.session
    org = organisation(kind)
    lines = title_lines(title, title_words(session))
    doc = reserve(ctx, kind=kind, scope=scope, title=title, numbered=numbered)
    issued_on: date = doc.issued_on or ctx.issue_date
    to = to or org["to"]
    shared = distribution(recipients) if not to else []
    doc_meta = {"header": org["header"], "issuer": org["issuer"], "title": title, "date": issued_on,
                "title_lines": lines, "to": to, "draft": org["draft"],
                "issue_no": doc.issue_no, "number": document_number(org["number_prefix"], doc.doc_year, doc.doc_no),
                "annotation": annotation(org), "contact_body": org["contact"],
                "cc": [*org["cc"], *(c for c in extra_cc if c not in org["cc"])], "distribution": shared,
                "printer": org["printer"] or (org["issuer"] if shared else None), "district": org["district"]}
    pdf, refused = render_pdf(template, fonts_dir=ctx.settings.fonts_dir, doc=doc_meta, **context)
    digest = sha256(pdf)
    doc.run_id, doc.title, doc.sha256, doc.created_at = ctx.run.id, title, digest, now_local()
    doc.path = str(_keep_version(ctx, doc, kind, scope, pdf, digest, companions or {}))
    _name_tickets(session, doc, context)
    session.flush()
    ctx.summary.setdefault("documents", []).append({"kind": kind, "path": doc.path, "sha256": digest,
                                                    "issue_no": doc.issue_no, "number": doc_meta["number"]})
    if refused:
        ctx.summary.setdefault("refused_urls", 0)
        ctx.summary["refused_urls"] += len(refused)
    return doc, pdf


def latest_version(session: Session, doc: Document) -> DocumentVersion:
    return session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == doc.id)
                           .order_by(DocumentVersion.version.desc()).limit(1)).one()


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


def _name_tickets(session: Session, doc: Document, context: dict) -> None:
    """Keep which tickets the document names (``DocumentTicket``), as of its latest rendering."""
    ids: set[int] = set()
    numbers: set[str] = set()
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


def _keep_version(ctx: JobContext, doc: Document, kind: str, scope: str, pdf: bytes, digest: str,
                  companions: dict[str, bytes]) -> Path:
    """The file of this rendering: the latest version's when the bytes are the same, else a new
    version ``<kind>/<key>/v<N>.pdf`` (written atomically) with its companions ``v<N>.xlsx``…;
    an earlier version is never touched."""
    latest = ctx.session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == doc.id)
                                 .order_by(DocumentVersion.version.desc()).limit(1)).first()
    if latest is not None and latest.sha256 == digest and Path(latest.path).exists():
        return Path(latest.path)
    number = (latest.version + 1) if latest is not None else 1
    folder = ctx.settings.documents_dir / kind / scope.replace("/", "_").replace(":", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{number}.pdf"
    for file, data in [(path, pdf), *((path.with_suffix(f".{suffix}"), data) for suffix, data in companions.items())]:
        tmp = file.with_name(file.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(file)
    ctx.session.add(DocumentVersion(document_id=doc.id, version=number, path=str(path), sha256=digest,
                                    run_id=ctx.run.id, created_at=now_local(),
                                    companions={k: sha256(v) for k, v in companions.items()} or None))
    return path


def pdf_name(title: str, period_label: str) -> str:
    return f"{title}（{period_label}）.pdf"
