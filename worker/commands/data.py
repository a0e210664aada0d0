"""Commands that fill the database: ``init-db``, ``directory load``, ``import``, ``demo-data``."""
from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from ..config import ConfigError
from .common import current_settings, fail, policy_calendar, policy_rules


@click.command("init-db")
@click.option("--directory", "with_directory", is_flag=True,
              help="then load the directory file (HOTLINE_CONFIG/directory.yaml) when there is one")
def init_db_cmd(with_directory):
    """Create or upgrade the database schema (Alembic)."""
    from ..db import init_db

    init_db()
    settings = current_settings()
    click.echo(f"database ready: {settings.database_url}")
    if with_directory and settings.directory_file.exists():
        _load_directory(settings.directory_file)


@click.group()
def directory():
    """The district directory: units, people, categories."""


@directory.command("load")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def directory_load(file):
    """Load (upsert) units, people and categories from FILE (YAML, or CSV per section); by default
    the directory file of the configuration (HOTLINE_CONFIG/directory.yaml, or the demo district)."""
    from ..db import init_db

    init_db()
    _load_directory(file or current_settings().directory_file)


def _load_directory(file) -> None:
    from ..db import session_scope
    from ..directory import load_directory

    try:
        with session_scope() as s:
            counts = load_directory(s, file)
    except ConfigError as exc:
        fail(f"{exc} — nothing was changed", 1)
    click.echo(f"{file}: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + " loaded")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--mapping", type=click.Path(dir_okay=False), help="column-mapping YAML (default: the sample format)")
@click.option("--encoding", help="force the file encoding (e.g. gbk); default: UTF-8, else GB18030")
@click.option("--dry-run", is_flag=True, help="validate only, store nothing")
def import_cmd(files, mapping, encoding, dry_run):
    """Import ticket exports (CSV, XLSX, JSONL). Exit status 1 if any row was refused."""
    from tqdm import tqdm

    from ..calendar import UnknownYearError
    from ..db import init_db, session_factory
    from ..importer import ImportFileError, Mapping
    from ..imports import import_file

    init_db()
    cal, rules = policy_calendar(), policy_rules()
    try:
        m = Mapping.load(mapping)
    except ConfigError as exc:
        fail(str(exc), 2)
    status = 0
    for f in files:
        try:
            with tqdm(desc=Path(f).name, unit=" rows", disable=not sys.stderr.isatty()) as bar:
                report = import_file(session_factory(), f, cal, rules, m, encoding=encoding, dry_run=dry_run,
                                     progress=bar.update)
        except (ImportFileError, UnknownYearError) as exc:
            click.echo(f"error: {exc}", err=True)
            status = 1
            continue
        except Exception as exc:  # noqa: BLE001 — one line naming the file, never a traceback
            click.echo(f"error: {f}: the import stopped ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
                       f"the batches stored before it are complete, nothing is half-written", err=True)
            status = 1
            continue
        for err in report.errors:
            click.echo(f"bad row: {err}", err=True)
        for note in report.warnings:
            click.echo(f"warning: {note}", err=True)
        click.echo(f"{f}: {report.summary(dry_run)}")
        if report.tickets_corrected or report.events_corrected:
            click.echo(f"{f}: corrections kept in the audit table import_corrections (old and new value, line)")
        status = status or (1 if report.errors else 0)
    sys.exit(status)


@click.command("demo-data")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="CSV file to write")
@click.option("--from", "start", default="2026-09-01", show_default=True)
@click.option("--to", "end", default="2026-11-15", show_default=True)
@click.option("--per-day", default=100, show_default=True, help="tickets received per day (and the district's stories)")
@click.option("--seed", default=12345, show_default=True)
def demo_data_cmd(out, start, end, per_day, seed):
    """Write the synthetic district's tickets as a sample export (then: hotline import FILE)."""
    from datetime import timedelta

    from tqdm import tqdm

    from ..demo_data import Generator, write_export

    start_d, end_d = date.fromisoformat(start), date.fromisoformat(end)
    gen = Generator(policy_calendar(), seed=seed, per_day=per_day, stories=True)
    until = datetime.combine(end_d + timedelta(days=1), datetime.min.time())
    with tqdm(total=gen.count_for(start_d, end_d), unit=" tickets", disable=not sys.stderr.isatty()) as bar:
        n = write_export(Path(out), gen.tickets(start_d, end_d, until), progress=bar.update)
    click.echo(f"{n} tickets written to {out}")


COMMANDS = [init_db_cmd, directory, import_cmd, demo_data_cmd]
