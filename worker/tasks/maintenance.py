"""Maintenance actors: recompute deadlines after a calendar or rules change, and process the inbox
folder where a platform drops its exports (files moved to done/ or failed/ with a report)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from sqlalchemy.orm import Session

from ..assignments import recompute_all
from ..calendar import load_calendar
from ..db import session_factory, session_scope
from ..importer import FileChangedError, ImportFileError, Mapping
from ..imports import import_file
from ..jobs import JobContext, job
from ..rules import load_rules
from .base import make_actors


def recompute_deadlines() -> int:
    with session_scope() as s:
        return recompute_all(s, load_calendar(), load_rules())


@job("recompute", period="none", family="maintenance", time_limit_minutes=60)
def recompute(ctx: JobContext):
    ctx.summary["assignments"] = recompute_all(ctx.session, ctx.cal, ctx.rules)


class _Borrowed:
    """A session factory handing out one existing session, never closing it."""

    def __init__(self, session: Session):
        self.session = session

    def __call__(self):
        return self

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        return False


MARKER = ".complete"   # FILE.complete beside FILE: the sender says FILE is whole; no quiet period to wait


def ready_files(inbox: Path, quiet_seconds: int, now: float) -> tuple[list[Path], list[str]]:
    """The inbox files to import now, and those left for a later pass with why.  A file is taken
    once its size and modification time have not changed for ``quiet_seconds`` (by the real clock
    ``now``: modification times are real), or at once when ``FILE.complete`` is beside it.  A file
    still being written is never read half; hidden files (an upload's temporary) are not looked at."""
    ready, waiting = [], []
    for path in sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")
                       and not p.name.endswith((".report.txt", MARKER))):
        if (inbox / f"{path.name}{MARKER}").exists():
            ready.append(path)
            continue
        age = now - path.stat().st_mtime
        if age >= quiet_seconds:
            ready.append(path)
        else:
            waiting.append(f"{path.name}: changed {max(0, int(age))} s ago, taken once unchanged for "
                           f"{quiet_seconds} s (inbox_quiet_seconds) or with {path.name}{MARKER} beside it")
    return ready, waiting


@job("process_inbox", period="none", family="maintenance", time_limit_minutes=60)
def process_inbox(ctx: JobContext):
    """Import every complete file of the inbox (``ready_files``) and move it to done/ or failed/ with a
    report; a file that changed while it was read stays for the next pass.  A dry run (``hotline run
    process_inbox --dry-run``) checks the files only: nothing stored, nothing moved."""
    inbox = ctx.settings.inbox_dir
    done, failed = inbox / "done", inbox / "failed"
    for d in (inbox, done, failed):
        d.mkdir(parents=True, exist_ok=True)
    mapping = Mapping.load()
    ready, waiting = ready_files(inbox, mapping.inbox_quiet_seconds, time.time())
    results = []
    for path in ready:
        try:
            # A dry run reads through the job's own session (a preview's, rolled back at the end).
            factory = _Borrowed(ctx.session) if ctx.dry_run else session_factory()
            report = import_file(factory, path, ctx.cal, ctx.rules, mapping, dry_run=ctx.dry_run)
            lines = [report.summary(ctx.dry_run)] + report.errors
            target = done if report.ok else failed
        except FileChangedError as exc:
            waiting.append(str(exc))
            continue
        except ImportFileError as exc:
            lines, target = [str(exc)], failed
        if ctx.dry_run:
            results.append({"file": path.name, "outcome": f"would go to {target.name}", "report": lines[:5]})
            continue
        shutil.move(str(path), target / path.name)
        marker = inbox / f"{path.name}{MARKER}"
        if marker.exists():
            shutil.move(str(marker), target / marker.name)
        (target / f"{path.name}.report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        results.append({"file": path.name, "outcome": target.name})
    ctx.summary["files"] = results
    if waiting:
        ctx.summary["waiting"] = waiting


actors = make_actors("recompute", "process_inbox")
