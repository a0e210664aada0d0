"""Shared fixtures.

Databases: every test that takes ``db`` runs on SQLite and on PostgreSQL, each on a database of its
own copied from a template migrated once per run (a file copy; ``CREATE DATABASE … TEMPLATE``).
Without a PostgreSQL server the PostgreSQL half is skipped, and the skips are counted at the end of
the run — except under ``CI=true``, where it fails.  Same rule for Redis and for Chromium (the
browser tests).
"""
from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from concurrent.futures import Future
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from worker.config import PROJECT_ROOT, load_settings

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"
FONTS = load_settings().fonts_dir     # the machine's reduced fonts (./run prepares them), whatever a test's HOME


def unavailable(what: str, exc: Exception):
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but unavailable: {exc}")
    pytest.skip(f"{what} unavailable: {exc}")


def _clear_caches():
    from worker import config, db, rendering

    db.get_engine(None).dispose()   # the sessions' engine (cached under the key (None,)): its connections closed
    config.policy.cache_clear()
    db.get_engine.cache_clear()
    rendering._stylesheet.cache_clear()
    # The console's kept periods are keyed by the database's URL and newest ids, which a restored
    # world repeats exactly: what one test kept must not answer the next.
    from worker.web import cache
    with cache._lock:
        cache._kept.clear()
        cache._generation = None


@pytest.fixture(autouse=True)
def manual_clock(monkeypatch):
    """``hotline run`` compares --at with the clock (a period must have ended before it is reported)
    and dates periodic documents by it.  The tests' histories lie in autumn 2026: their manual runs
    happen on Monday 21 December 2026, 09:00 (a test may set another moment)."""
    from datetime import datetime

    import worker.jobs
    monkeypatch.setattr(worker.jobs, "now_local", lambda: datetime(2026, 12, 21, 9, 0))


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes():
    """argon2id at its smallest cost in this process: the console's tests sign in hundreds of times,
    and what they check is who may sign in, not what a guess costs (a deployment's hashes keep the
    library's defaults, ``worker.web.access``)."""
    from argon2 import PasswordHasher

    from worker.web import access

    real = access._hasher, access._BURN
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    access._hasher, access._BURN = cheap, cheap.hash("not a password of anyone")
    yield
    access._hasher, access._BURN = real


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A private var folder and SQLite database; the machine's reduced fonts."""
    monkeypatch.setenv("HOTLINE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTLINE_FONTS", str(FONTS))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'hotline.db'}")
    for name in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    _clear_caches()
    yield tmp_path
    _clear_caches()


def _load_sample_directory():
    from worker.db import init_db, session_scope
    from worker.directory import load_directory

    init_db()
    with session_scope() as s:
        load_directory(s, PROJECT_ROOT / "db" / "seed" / "district.yaml")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """One SQLite file migrated to head with the sample directory loaded, made once per run; each
    test's database is a copy of it (a file copy takes milliseconds, the migrations a second)."""

    path = tmp_path_factory.mktemp("template") / "hotline.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", f"sqlite:///{path}")
        _clear_caches()
        _load_sample_directory()
        _clear_caches()
    with sqlite3.connect(path) as conn:   # the whole database in the one file, nothing left in a -wal
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


class PostgresCopies:
    """The PostgreSQL databases of a run: one template migrated once, and for each test a copy
    (``CREATE DATABASE … TEMPLATE``).  Making and dropping a copy costs the server a second or two
    of file writes and fsyncs, so one thread does it beside the tests: the next test's copy is made
    while the current test runs, and a finished test's copy is dropped after it."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self.template = f"hotline_template_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.server = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-copies")
        self.spare = None

    @staticmethod
    def url(name: str) -> str:
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def create_template(self):
        _admin(f'CREATE DATABASE "{self.template}"')
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DATABASE_URL", self.url(self.template))
            _clear_caches()
            _load_sample_directory()
            _clear_caches()   # a template must have no connection while it is copied

    def _copy(self) -> str:
        name = f"hotline_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def take(self) -> str:
        name = self.spare.result() if self.spare else self._copy()
        self.spare = self.server.submit(self._copy)
        return name

    def give_back(self, name: str) -> None:
        self.server.submit(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.spare:
            self.give_back(self.spare.result())
        self.server.shutdown(wait=True)
        _admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_copies():
    copies = PostgresCopies()
    try:
        copies.create_template()
    except Exception as exc:  # noqa: BLE001
        unavailable("PostgreSQL", exc)
    try:
        yield copies
    finally:
        copies.close()


def _database(kind: str, request, monkeypatch):
    """A test's own database, copied from the run's template."""
    import shutil

    if kind == "sqlite":
        path = Path(os.environ["DATABASE_URL"].split("///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield kind
        return
    copies = request.getfixturevalue("postgres_copies")
    name = copies.take()
    monkeypatch.setenv("DATABASE_URL", copies.url(name))
    _clear_caches()
    yield kind
    _clear_caches()
    copies.give_back(name)


class Worlds:
    """Prepared worlds: a database and its var folder (documents, outbox) built once per run for each
    backend and recipe, then restored for every test that asks for the same — the console's tests
    share one history, this morning's documents and five logins, which take seconds to make (two
    jobs rendering, argon2 hashing) and a file copy or a ``CREATE DATABASE … TEMPLATE`` to restore.

    A world lives at one path for the whole run, because the database records its documents by
    absolute path: each test gets that folder back as the snapshot left it."""

    def __init__(self, tmp_path_factory):
        self.factory = tmp_path_factory
        self.built: dict[tuple, tuple[Path, str | None]] = {}   # (backend, key) → (home, snapshot database)
        self.snapshots: list[str] = []
        self.spares: dict[str, Future] = {}   # snapshot → its next copy, being made

    @staticmethod
    def _copy(snapshot: str) -> str:
        name = f"hotline_world_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{snapshot}"')
        return name

    def use(self, key: tuple, build, request, monkeypatch) -> None:
        import shutil

        kind = "sqlite" if os.environ["DATABASE_URL"].startswith("sqlite") else "postgres"
        if (kind, key) not in self.built:
            self.built[kind, key] = self._build(kind, build, request, monkeypatch)
        home, snapshot = self.built[kind, key]
        _clear_caches()
        shutil.rmtree(home / "var", ignore_errors=True)
        shutil.copytree(home / "snapshot", home / "var")
        monkeypatch.setenv("HOTLINE_VAR", str(home / "var"))
        if snapshot is None:
            monkeypatch.setenv("DATABASE_URL", f"sqlite:///{home / 'var' / 'hotline.db'}")
        else:
            # the next test's copy is made beside this test, as PostgresCopies does
            copies = request.getfixturevalue("postgres_copies")
            spare = self.spares.pop(snapshot, None)
            name = spare.result() if spare else self._copy(snapshot)
            self.spares[snapshot] = copies.server.submit(self._copy, snapshot)
            monkeypatch.setenv("DATABASE_URL", copies.url(name))
            request.addfinalizer(lambda: copies.give_back(name))
        _clear_caches()

    def _build(self, kind: str, build, request, monkeypatch) -> tuple[Path, str | None]:
        import shutil

        home = self.factory.mktemp("world")
        monkeypatch.setenv("HOTLINE_VAR", str(home / "var"))
        (home / "var").mkdir()
        if kind == "sqlite":
            shutil.copyfile(request.getfixturevalue("sqlite_template"), home / "var" / "hotline.db")
            monkeypatch.setenv("DATABASE_URL", f"sqlite:///{home / 'var' / 'hotline.db'}")
        _clear_caches()
        build()
        _clear_caches()   # no connection left: the folder is copied, the database used as a template
        snapshot = None
        if kind == "postgres":
            snapshot = f"hotline_snapshot_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
            # a pool the caches no longer reach may still hold a connection (engines cached by URL)
            _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")
            _admin(f'CREATE DATABASE "{snapshot}" TEMPLATE "{database}"')
            self.snapshots.append(snapshot)
        else:
            with sqlite3.connect(home / "var" / "hotline.db") as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copytree(home / "var", home / "snapshot")
        return home, snapshot

    def close(self) -> None:
        for spare in self.spares.values():
            _admin(f'DROP DATABASE IF EXISTS "{spare.result()}" WITH (FORCE)')
        for name in self.snapshots:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _worlds(tmp_path_factory):
    worlds = Worlds(tmp_path_factory)
    yield worlds
    worlds.close()


@pytest.fixture
def world(_worlds, request, monkeypatch):
    """``world(key, build)``: this test's database and var folder as ``build()`` left them, built
    the first time KEY is asked for on this backend (``Worlds``).  Use after ``db``/``sqlite_db``."""
    return lambda key, build: _worlds.use(key, build, request, monkeypatch)


@pytest.fixture
def half_year(postgres_db, world) -> Path:
    """A district's half year on PostgreSQL: 6 Apr to 8 Nov 2026 at 30 tickets a day (seed 7), imported
    and ANALYZEd, for the tests that need a long history to see how a query reads it.  Built once
    per run; each test has its own copy.  The export's path (inside the var folder)."""

    def build():
        from sqlalchemy import text

        from worker.calendar import load_calendar
        from worker.db import get_engine, session_factory
        from worker.demo_data import Generator, write_export
        from worker.imports import import_file
        from worker.rules import load_rules

        cal = load_calendar()
        export = Path(os.environ["HOTLINE_VAR"]) / "history.csv"
        write_export(export, Generator(cal, seed=7, per_day=30).tickets(
            date(2026, 4, 6), date(2026, 11, 8), datetime(2026, 11, 9, 9, 0)))
        import_file(session_factory(), export, cal, load_rules())
        with get_engine().connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()

    world(("half-year",), build)
    return Path(os.environ["HOTLINE_VAR"]) / "history.csv"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, env, monkeypatch):
    """An initialised database with the sample directory loaded: SQLite, then PostgreSQL."""
    yield from _database(request.param, request, monkeypatch)


@pytest.fixture
def postgres_db(env, request, monkeypatch):
    yield from _database("postgres", request, monkeypatch)


@pytest.fixture
def sqlite_db(env, request, monkeypatch):
    yield from _database("sqlite", request, monkeypatch)


@pytest.fixture
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        unavailable("Redis", exc)
    return REDIS_URL


def document_text(kind: str, scope: str | None = None, flat: bool = False) -> str:
    """The text of the newest stored document of a kind (and scope); ``flat`` removes every blank,
    since a PDF line break may fall anywhere in a phrase."""
    import re

    from pypdf import PdfReader
    from sqlalchemy import select

    from worker.db import session_scope
    from worker.models import Document

    with session_scope() as s:
        q = select(Document).where(Document.kind == kind).order_by(Document.id.desc())
        if scope:
            q = q.where(Document.scope == scope)
        doc = s.scalars(q).first()
    assert doc is not None, f"no {kind} {scope or ''}"
    text = "".join(p.extract_text() for p in PdfReader(doc.path).pages)
    return re.sub(r"\s", "", text) if flat else text


def document_sheets(kind: str, scope: str | None = None) -> dict[str, list[tuple]]:
    """The XLSX archived beside the newest stored document of a kind (and scope), as its sheets'
    rows (the header row first), by sheet title."""
    from pathlib import Path

    from openpyxl import load_workbook
    from sqlalchemy import select

    from worker.db import session_scope
    from worker.models import Document

    with session_scope() as s:
        q = select(Document.path).where(Document.kind == kind).order_by(Document.id.desc())
        if scope:
            q = q.where(Document.scope == scope)
        path = s.scalars(q).first()
    assert path is not None, f"no {kind} {scope or ''}"
    book = load_workbook(Path(path).with_suffix(".xlsx"), read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


@functools.cache
def pdf_pages(path: str | Path) -> tuple[str, ...]:
    """The text of each page of a PDF (pypdf), read once per run: several tests read the same
    demo's documents, and extracting the text is most of what reading them costs."""
    from pypdf import PdfReader

    return tuple(page.extract_text() for page in PdfReader(path).pages)


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """One small demo for the run, as `hotline demo` makes it: 3 weeks replayed up to Mon 16 Nov 2026,
    2 tickets a day and the district's stories (the power cut falls in the week of 26 Oct; October's
    monthly reports are issued on 2 Nov), the first .eml of each kind.  Building it is the slowest
    thing the suite does (every slot replayed with its documents), so the tests that read what a demo
    leaves (test_demo, test_privacy, test_official_documents, test_units_told) share this one: they
    read it and never change it (tests/test_demo.py's closing commands add a console login, which no
    other test reads).  Returns the folder and what the command printed."""
    from click.testing import CliRunner

    from worker.cli import main

    out = tmp_path_factory.mktemp("demo") / "out"
    with pytest.MonkeyPatch.context() as mp:
        var = tmp_path_factory.mktemp("var")
        mp.setenv("HOTLINE_VAR", str(var))
        mp.setenv("DATABASE_URL", f"sqlite:///{var / 'hotline.db'}")
        mp.setenv("HOTLINE_FONTS", str(FONTS))
        for name in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "REDIS_URL"):
            mp.delenv(name, raising=False)
        _clear_caches()
        res = CliRunner().invoke(main, ["demo", "--out", str(out), "--weeks", "3", "--per-day", "2",
                                        "--until", "2026-11-16"])
        _clear_caches()
    assert res.exit_code == 0, res.output
    return out, res.stdout


class History:
    """Hand-built ticket histories, stored through the same path an import takes."""

    def __init__(self):
        self.tickets: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}

    def ticket(self, number: str, received: str, *, source="city", category="0101", phone="13812345678",
               name="张三", address="观海路1号", street="S01", content="反映物业问题", urgent=None) -> TicketBuilder:
        from worker.times import parse_local

        self.tickets[number] = {"number": number, "source": source, "category_code": category, "urgent_kind": urgent,
                                    "content": content, "caller_name": name, "caller_phone": phone, "address": address,
                                    "territorial_unit_code": street, "received_at": parse_local(received)}
        self.events[number] = []
        return TicketBuilder(self, number)

    def store(self):
        from sqlalchemy import insert, select

        from worker.assignments import refresh
        from worker.calendar import load_calendar
        from worker.db import session_scope
        from worker.models import Ticket, TicketEvent
        from worker.rules import load_rules

        with session_scope() as s:
            s.execute(insert(Ticket), list(self.tickets.values()))
            ids = dict(s.execute(select(Ticket.number, Ticket.id)).all())
            rows = [dict(ticket_id=ids[n], **e) for n, evs in self.events.items() for e in evs]
            if rows:
                s.execute(insert(TicketEvent), rows)
            refresh(s, list(ids.values()), load_calendar(), load_rules())
        return self


EVENT_DEFAULTS = {"unit_code": "", "reason": None, "note": None, "suggested_unit_code": None, "reply_kind": None, "review_passed": None,
                      "days": None, "consent": None, "plan_date": None, "satisfaction": None, "resolved": None,
                      "contact_person": None, "contact_phone": None}


class TicketBuilder:
    def __init__(self, history: History, number: str):
        self.h, self.number = history, number

    def ev(self, kind: str, at: str, unit: str = "", **kw) -> TicketBuilder:
        from worker.times import parse_local

        self.h.events[self.number].append(dict(EVENT_DEFAULTS, kind=kind, at=parse_local(at), unit_code=unit, **kw))
        return self

    def dispatch(self, at, unit):
        return self.ev("dispatched", at, unit)

    def sign(self, at, unit):
        return self.ev("signed", at, unit)

    def ret(self, at, unit, reason="不属于本单位职责", suggested=None):
        return self.ev("returned", at, unit, reason=reason, suggested_unit_code=suggested)

    def reply(self, at, unit, kind="normal", plan_date=None, note=None):
        return self.ev("replied", at, unit, reply_kind=kind, plan_date=plan_date, note=note)

    def review(self, at, passed=True):
        return self.ev("reviewed", at, "C00", review_passed=passed)

    def callback(self, at, satisfaction="satisfied", resolved=True):
        return self.ev("callback", at, "C00", satisfaction=satisfaction, resolved=resolved)

    def contact(self, at, unit, person, phone):
        return self.ev("contacted", at, unit, contact_person=person, contact_phone=phone)

    def extend(self, at, unit, days, consent=True):
        return self.ev("extended", at, unit, days=days, consent=consent)


@pytest.fixture
def history():
    return History()


LADDER_UNITS = ["D20", "D01", "D02", "D03", "D04", "D05", "D06"]


@pytest.fixture
def failing_every_week(sqlite_db, history):
    """Data from Mon 14 Sep 2026 to Sun 6 Dec: D20's callers are never satisfied, the others always."""
    n, monday = 0, date(2026, 9, 14)
    while monday <= date(2026, 11, 30):
        for unit in LADDER_UNITS:
            n += 1
            bad = unit == "D20"
            (history.ticket(f"M{n:04d}", f"{monday} 08:00", phone=f"1380001{n:04d}")
             .dispatch(f"{monday} 09:00", unit).sign(f"{monday} 10:00", unit).reply(f"{monday} 16:00", unit)
             .callback(f"{monday} 18:00", "unsatisfied" if bad else "satisfied", not bad))
        monday += timedelta(days=7)
    return history.store()


class SMTPSink:
    """A real SMTP server (aiosmtpd) in this process; messages parsed as the recipient sees them."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller

        self.port, self.messages, self.refuse, self.refuse_rcpt = port, [], [], {}
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address in sink.refuse_rcpt:          # a refusal for this recipient only
                    return sink.refuse_rcpt[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                if sink.refuse:
                    return sink.refuse.pop(0)
                import email
                from email import policy as email_policy

                msg = email.message_from_bytes(envelope.content, policy=email_policy.default)
                sink.messages.append((list(envelope.rcpt_tos), msg))
                return "250 OK queued"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def by_id(self):
        from collections import Counter

        return Counter(m["Message-ID"] for _, m in self.messages)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    port = free_port()
    sink = SMTPSink(port).start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_RATE", "0")
    yield sink
    sink.stop()


# -- the reliability figures (issue 9): tests add to them, the summary prints them -----------------
FIGURES: dict[str, int] = {}


@pytest.fixture
def figures():
    def add(name: str, n: int = 1):
        FIGURES[name] = FIGURES.get(name, 0) + n
    return add


class _FiguresFromWorkers:
    """Under pytest-xdist each worker counts its own figures; the controller adds them up."""

    @staticmethod
    def pytest_testnodedown(node, error):
        for name, n in getattr(node, "workeroutput", {}).get("figures", {}).items():
            FIGURES[name] = FIGURES.get(name, 0) + n


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_FiguresFromWorkers())


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):   # a worker: its figures go back with it
        session.config.workeroutput["figures"] = dict(FIGURES)


# The run-wide builds (a demo, a half year on PostgreSQL): their tests on one worker, built once.
SHARED_BUILDS = {"demo": "demo", "half_year": "half-year"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in SHARED_BUILDS.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(SHARED_BUILDS[fixture]))


def pytest_terminal_summary(terminalreporter):
    import re
    from collections import Counter

    not_here = Counter(m.group(1) for r in terminalreporter.stats.get("skipped", [])
                       if isinstance(r.longrepr, tuple) and (m := re.match(r"Skipped: (.+?) unavailable: ", r.longrepr[2])))
    if not_here:
        terminalreporter.write_sep("-", "not run on this machine (required under CI=true)")
        for what, n in sorted(not_here.items()):
            terminalreporter.write_line(f"{n:>4} tests skipped: {what} unavailable")
    if FIGURES:
        terminalreporter.write_sep("-", "reliability figures")
        for name in sorted(FIGURES):
            terminalreporter.write_line(f"{name:<40} {FIGURES[name]}")
