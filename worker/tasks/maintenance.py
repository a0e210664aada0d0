"""Maintenance actors: recompute deadlines after a calendar or rules change, and process the inbox
folder where a platform drops its exports (files moved to done/ or failed/ with a report)."""
from __future__ import annotations

import shutil

from ..assignments import recompute_all
from ..calendar import load_calendar
from ..db import session_factory, session_scope
from ..importer import ImportFileError, import_file
from ..jobs import job
from ..rules import load_rules
from .base import make_actors


def recompute_deadlines() -> int:
    with session_scope() as s:
        return recompute_all(s, load_calendar(), load_rules())


@job("recompute", period="none", family="maintenance", time_limit_minutes=60)
def recompute(ctx):
    ctx.summary["assignments"] = recompute_all(ctx.session, ctx.cal, ctx.rules)


class _Borrowed:
    """A session factory handing out one existing session, never closing it."""

    def __init__(self, session):
        self.session = session

    def __call__(self):
        return self

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        return False


@job("process_inbox", period="none", family="maintenance", time_limit_minutes=60)
def process_inbox(ctx):
    """Import every file of the inbox and move it to done/ or failed/ with a report.  A dry run
    (``hotline run process_inbox --dry-run``) checks the files only: nothing stored, nothing moved."""
    inbox = ctx.settings.inbox_dir
    done, failed = inbox / "done", inbox / "failed"
    for d in (inbox, done, failed):
        d.mkdir(parents=True, exist_ok=True)
    results = []
    for path in sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.endswith(".report.txt")):
        try:
            # A dry run reads through the job's own session (a preview's, rolled back at the end).
            factory = _Borrowed(ctx.session) if ctx.dry_run else session_factory()
            report = import_file(factory, path, ctx.cal, ctx.rules, dry_run=ctx.dry_run)
            lines = [report.summary(ctx.dry_run)] + report.errors
            target = done if report.ok else failed
        except ImportFileError as exc:
            lines, target = [str(exc)], failed
        if ctx.dry_run:
            results.append({"file": path.name, "outcome": f"would go to {target.name}", "report": lines[:5]})
            continue
        shutil.move(str(path), target / path.name)
        (target / f"{path.name}.report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        results.append({"file": path.name, "outcome": target.name})
    ctx.summary["files"] = results


actors = make_actors("recompute", "process_inbox")
