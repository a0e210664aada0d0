"""The ledgers a user reads: ``supervision list``, ``escalation list``, ``documents``."""
from __future__ import annotations

from pathlib import Path

import click

from ..terminal import pad
from .common import at_moment, fail


@click.group()
def supervision():
    """The supervision ledger (挂牌督办 → 销号)."""


@supervision.command("list")
@click.option("--unit", help="only this unit's letters (a unit code)")
@click.option("--open", "only_open", is_flag=True, help="only tickets not closed (open or overdue on the letter)")
@click.option("--at", "at", help="the state at this moment (default: now)")
@click.option("--steps", is_flag=True, help="each answer, 销号 and return, with who and when")
def supervision_list(unit, only_open, at, steps):
    """Every ticket named in a supervision letter, with its stage, deadline and state, and where
    closing it out on line stands (答复, 销号, 退回; the answers overdue)."""
    from ..db import init_db, session_scope
    from ..supervision import ANSWER_STATES, closeout_lines, ledger
    from ..vocabulary import unit_names

    init_db()
    states = {"open": "open", "overdue": "OVERDUE", "closed": "closed"}
    stages = {"reply": "答复超期", "completion": "办结超期", "unresolved": "回访未解决"}
    with session_scope() as s:
        names = unit_names(s)
        entries = [e for e in ledger(s, at_moment(at), unit) if not only_open or e.state != "closed"]
        for e in entries:
            state = (f"closed {e.closed_at:%Y-%m-%d %H:%M}{' in time' if e.in_time else ' late'}" if e.closed_at
                     else states[e.state])
            answer = f"  [{ANSWER_STATES[e.answer]} {e.steps[-1].at:%Y-%m-%d %H:%M}]" if e.steps else ""
            click.echo(f"{e.number:<18} {pad(names.get(e.unit_code, e.unit_code), 16)} {stages[e.stage]} letter "
                       f"{e.day} due {e.deadline or '—'}  {state}{answer}")
        summary = {k: sum(1 for e in entries if e.state == k) for k in states}
        click.echo(f"{len(entries)} ticket(s): {summary['open']} open, {summary['overdue']} overdue on the letter, "
                   f"{summary['closed']} closed (the ticket handled)")
        for line in closeout_lines(entries, names, steps):
            click.echo(line)


@click.group()
def escalation():
    """The escalation ladder (约谈、质询、说明): one ladder per unit."""


@escalation.command("list")
@click.option("--unit", help="only this unit (a unit code)")
@click.option("--at", "at", help="the ladder as of this moment (default: now)")
@click.option("--all", "show_all", is_flag=True, help="every tier ever reached, issued or superseded, not only "
              "where each unit stands")
def escalation_list(unit, at, show_all):
    """Where each unit stands on the ladder (the tier in force, its runs of failing weeks and months,
    what the next failing period brings) — the same statement every document of that moment makes;
    with --all, the ledger of every tier reached (已发出 or 已在更高层级)."""
    from ..db import init_db, session_scope
    from ..ladder import describe, ladder_at, ledger_rows
    from ..vocabulary import unit_names

    init_db()
    moment = at_moment(at)
    units = [unit] if unit else None
    with session_scope() as s:
        names = unit_names(s)
        if show_all:
            rows = ledger_rows(s, moment, units)
            for r in rows:
                cites = f"  cites {r['cites']}" if r["cites"] else ""
                click.echo(f"{r['fired_at']:%Y-%m-%d %H:%M}  {names.get(r['unit_code'], r['unit_code'])}  "
                           f"{r['tier_label']}  {r['state_label']}  ({r['period']}){cites}")
            click.echo(f"{len(rows)} tier(s) reached by {moment:%Y-%m-%d %H:%M}")
            return
        states = [(c, st) for c, st in ladder_at(s, moment, units).items() if st.active]
        for code, st in states:
            d = describe(st)
            click.echo(f"{names.get(code, code)}  连续未达标 {d['streak']}  已启动问责 {d['tier']}  "
                       f"再未达标将启动 {d['next']}")
    click.echo(f"{len(states)} unit(s) on the ladder at {moment:%Y-%m-%d %H:%M}")


@click.group()
def documents():
    """The documents archive."""


@documents.command("list")
@click.option("--kind", help="only this kind (daily_sheet, weekly_bulletin, supervision_letter…)")
@click.option("--key", help="only keys containing this text (a period, a unit code)")
@click.option("--limit", default=50, show_default=True)
def documents_list(kind, key, limit):
    """Every document with its versions: number, date, SHA-256 and file."""
    from sqlalchemy import select

    from ..db import init_db, session_scope
    from ..documents import document_label
    from ..models import Document, DocumentVersion

    init_db()
    with session_scope() as s:
        q = select(Document).order_by(Document.kind, Document.scope).limit(limit)
        if kind:
            q = q.where(Document.kind == kind)
        if key:
            q = q.where(Document.scope.contains(key))
        docs = s.scalars(q).all()
        versions: dict[int, list] = {}
        for v in s.scalars(select(DocumentVersion).where(DocumentVersion.document_id.in_([d.id for d in docs] or [0]))
                           .order_by(DocumentVersion.version)):
            versions.setdefault(v.document_id, []).append(v)
        for d in docs:
            click.echo(f"{d.kind:<20} {d.scope:<40} {document_label(d)}  {d.title}")
            for v in versions.get(d.id, []):
                click.echo(f"    v{v.version}  {v.created_at:%Y-%m-%d %H:%M}  sha256:{v.sha256[:16]}  {v.path}")
        click.echo(f"{len(docs)} document(s)")


@documents.command("get")
@click.argument("kind")
@click.argument("key")
@click.option("--version", "version", type=int, help="this version (default: the latest)")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="copy it here, and each file kept beside it (the push's XLSX, a report's DOCX) with its suffix "
                   "(default: print the paths)")
def documents_get(kind, key, version, out):
    """Find a document version by KIND and KEY with the files archived beside it, check every SHA-256,
    and copy them to --out."""
    import hashlib
    import shutil

    from sqlalchemy import select

    from ..db import init_db, session_scope
    from ..models import Document, DocumentVersion

    init_db()
    with session_scope() as s:
        doc = s.scalars(select(Document).where(Document.kind == kind, Document.scope == key)).first()
        if doc is None:
            fail(f"no {kind} with the key {key!r} (hotline documents list --kind {kind})", 1)
        q = select(DocumentVersion).where(DocumentVersion.document_id == doc.id)
        q = q.where(DocumentVersion.version == version) if version else q.order_by(DocumentVersion.version.desc())
        v = s.scalars(q.limit(1)).first()
        if v is None:
            fail(f"{kind} {key} has no version {version}", 1)
        path, number = Path(v.path), v.version
        files = [(path, v.sha256)] + [(path.with_suffix(f".{suffix}"), digest)
                                      for suffix, digest in sorted((v.companions or {}).items())]
    for file, digest in files:
        if not file.exists():
            fail(f"{file}: the file of v{number} is missing from the archive", 1)
        if hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            fail(f"{file}: its SHA-256 differs from the ledger's ({digest[:16]}…): the file was altered", 1)
    for file, digest in files:
        if out:
            target = Path(out) if file == path else Path(out).with_suffix(file.suffix)
            shutil.copyfile(file, target)
            click.echo(f"{kind} {key} v{number} → {target} (sha256 {digest[:16]}…, verified)")
        else:
            click.echo(str(file))


@documents.command("preview")
@click.option("--out", "out", default="out/preview", show_default=True, type=click.Path(file_okay=False))
def documents_preview(out):
    """Render the first page of the newest document of each kind to PNG (pdftoppm), for review."""
    import shutil
    import subprocess

    from sqlalchemy import func, select

    from ..db import init_db, session_scope
    from ..models import Document

    if not shutil.which("pdftoppm"):
        fail("pdftoppm is not installed: apt-get install poppler-utils", 2)
    init_db()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with session_scope() as s:
        newest = select(Document.kind, func.max(Document.id)).group_by(Document.kind)
        docs = [s.get(Document, i) for _, i in s.execute(newest)]
    for doc in sorted(docs, key=lambda d: d.kind):
        target = out_dir / doc.kind
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", doc.path, str(target)],
                       check=True)
        click.echo(f"{doc.kind}: {target}.png  ({doc.title}, {doc.path})")


COMMANDS = [supervision, escalation, documents]
