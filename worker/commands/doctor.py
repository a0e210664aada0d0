"""``hotline doctor``: every dependency checked, with what to do (the checks: ``worker/health.py``)."""
from __future__ import annotations

import sys
from datetime import date

import click

from .common import current_settings


@click.command()
@click.option("--today", help="check calendar coverage from this date (default: today)")
def doctor(today):
    """Check the database, Redis, SMTP, CJK fonts, calendar, schedules and directory; say what to do."""
    from ..health import doctor as checks

    problems = 0
    for f in checks(current_settings(), date.fromisoformat(today) if today else date.today()):
        mark = {True: "ok  ", False: "FAIL", None: "note"}[f.ok]
        click.echo(f"[{mark}] {f.what}: {f.detail}")
        if not f.ok and f.todo:
            click.echo(f"       → {f.todo}")
        for line in f.lines:
            click.echo(f"       {line}")
        problems += f.ok is False
    sys.exit(1 if problems else 0)


COMMANDS = [doctor]
