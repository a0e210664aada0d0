"""Engine, sessions and migrations.  SQLite by default, PostgreSQL through ``DATABASE_URL``."""
from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from .config import PROJECT_ROOT, load_settings


def normalise_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched.  ``Session.execute`` is typed to return a plain
    ``Result``; for these statements it is a ``CursorResult``, the one that counts them."""
    return cast(CursorResult[Any], result).rowcount


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    url = normalise_url(url or load_settings().database_url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # pysqlite's own transaction handling breaks SAVEPOINTs (a released savepoint would commit
            # the outer work); SQLAlchemy's documented recipe: no implicit BEGIN, we emit it ourselves.
            # IMMEDIATE: a transaction that read and then writes would otherwise fail at once in WAL
            # mode when another process committed meanwhile (SQLITE_BUSY_SNAPSHOT); this way it waits.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # No JIT: our queries are short index scans; PostgreSQL's cost threshold still compiles
        # them when the table is large, and compiling costs far more than the scan it speeds up.
        options = " ".join(f"-c {name}={value}" for name, value in postgres_session_settings().items())
        engine = create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    return engine


def postgres_session_settings() -> dict[str, str]:
    """What every PostgreSQL session of ours runs with.

    ``idle_in_transaction_session_timeout``: a process frozen (SIGSTOP, a hung VM, a debugger)
    inside a transaction keeps its row locks; the server ends its session after this long idle, so
    the attempt that took its run over is not blocked until the run's time limit.  It must exceed
    the longest pause between two statements of one transaction (a document's rendering: seconds).
    ``lock_timeout``: no statement waits longer than this for a lock — it fails (a transient error:
    the job is retried) instead of blocking the scheduler's pass or a worker behind a frozen holder.
    Sessions that wait for a lock on purpose (the import lock) set their own."""
    return {"jit": "off",
            "lock_timeout": os.environ.get("HOTLINE_PG_LOCK_TIMEOUT", "30s"),
            "idle_in_transaction_session_timeout": os.environ.get("HOTLINE_PG_IDLE_IN_TRANSACTION_TIMEOUT", "120s")}


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None):
    """One transaction: committed on success, rolled back whole on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "db"))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url or load_settings().database_url).replace("%", "%%"))
    return cfg


def init_db(url: str | None = None) -> None:
    """Bring the schema to the newest migration (safe to run again)."""
    from alembic import command

    get_engine(url)  # creates the SQLite folder
    command.upgrade(alembic_config(url), "head")


def refresh_statistics(session_factory, tables=("tickets", "ticket_events", "assignments", "assignment_clocks",
                                                "clock_days", "analysis_queue")) -> None:
    """After a bulk load: until autovacuum gets to it, the planner would take a table just filled
    for an empty one, and on PostgreSQL the period scans could not stay in the covering indexes
    (an index-only scan needs the pages marked all-visible, which only VACUUM does).  The per-day
    rollup is rewritten by every batch: a year's import leaves many times more dead rows than live
    ones, which every period scan would step over until a VACUUM."""
    engine = session_factory.kw["bind"]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM: no transaction
            for table in tables:
                conn.execute(text(f"VACUUM (ANALYZE) {table}"))
    else:
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"ANALYZE {table}"))


def table_of(model: type[DeclarativeBase]) -> Table:
    """A mapped class's table: ``__table__`` is typed as any FROM clause, each class here maps a Table."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def bulk_insert(session: Session, table, rows: list[dict]) -> None:
    """Insert ROWS (dicts with the same keys) into TABLE in the session's transaction: by COPY on
    PostgreSQL — for the derived rows of a bulk import, executemany was the largest single cost —
    and by executemany elsewhere.  The values go in as they are (naive local times, as stored)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    driver = session.connection().connection.driver_connection
    assert driver is not None   # psycopg's connection, open while the session's is
    with driver.cursor() as cursor, cursor.copy(
            f'COPY {table.name} ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
