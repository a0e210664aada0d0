"""``import_file``: one export imported, serialised with every other import, through the path that
is fastest on the database at hand — a staging table and set-based SQL on PostgreSQL
(``worker.bulk_load``), batch by batch elsewhere (``worker.importer``) — and logged."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from . import importer
from .bulk_load import import_bulk
from .calendar import WorkCalendar
from .export_reading import Mapping
from .importer import ImportReport, import_rows
from .models import ImportLog
from .rules import Rules
from .times import now_local

IMPORT_LOCK = 48_120_345   # PostgreSQL advisory lock key of "an import is storing"


@contextmanager
def import_lock(session_factory):
    """One import stores at a time: PostgreSQL's advisory lock (held by a connection of its own), or on
    SQLite an exclusive lock on a file beside the database.  Two imports of the same file (an operator
    and the inbox, say) then run one after the other and the second finds everything stored."""
    engine = session_factory.kw["bind"]
    if engine.dialect.name == "postgresql":
        # Outside any transaction (never cut off as idle in one), waiting as long as the other import takes.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": IMPORT_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": IMPORT_LOCK})
                conn.execute(text("RESET lock_timeout"))
        return
    import fcntl

    database = engine.url.database
    lock_path = Path(f"{database}.import-lock") if database and database != ":memory:" else None
    if lock_path is None:
        yield
        return
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def import_file(session_factory, path: Path | str, cal: WorkCalendar, rules: Rules, mapping: Mapping | None = None,
                encoding: str | None = None, dry_run: bool = False, batch_size: int | None = None,
                progress=None, bulk: bool | None = None) -> ImportReport:
    """Import one export (see the module's docstring); serialised with other imports.  ``bulk``: through
    a staging table and set-based SQL (``worker.bulk_load``); by default on PostgreSQL, where it is
    the faster way, while SQLite stores batch by batch."""
    batch_size = batch_size or importer.BATCH_ROWS
    if dry_run:
        return import_rows(session_factory, path, cal, rules, mapping, encoding, dry_run, batch_size, progress)
    if bulk is None:
        bulk = session_factory.kw["bind"].dialect.name == "postgresql"
    with import_lock(session_factory):
        if bulk:
            report = import_bulk(session_factory, path, cal, rules, mapping, encoding, batch_size, progress)
        else:
            report = import_rows(session_factory, path, cal, rules, mapping, encoding, dry_run, batch_size, progress)
    with session_factory() as s, s.begin():
        s.add(ImportLog(file=str(path)[:500], finished_at=now_local(), rows_read=report.rows,
                        rows_stored=report.rows_stored, rows_unchanged=report.rows_unchanged,
                        rows_refused=len(report.errors)))
    return report


