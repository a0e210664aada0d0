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


@job("process_inbox", period="none", family="maintenance", time_limit_minutes=60)
def process_inbox(ctx):
    inbox = ctx.settings.inbox_dir
    done, failed = inbox / "done", inbox / "failed"
    for d in (inbox, done, failed):
        d.mkdir(parents=True, exist_ok=True)
    results = []
    for path in sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.endswith(".report.txt")):
        try:
            report = import_file(session_factory(), path, ctx.cal, ctx.rules)
            lines = [report.summary()] + report.errors
            target = done if report.ok else failed
        except ImportFileError as exc:
            lines, target = [str(exc)], failed
        shutil.move(str(path), target / path.name)
        (target / f"{path.name}.report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        results.append({"file": path.name, "outcome": target.name})
    ctx.summary["files"] = results


actors = make_actors("recompute", "process_inbox")
