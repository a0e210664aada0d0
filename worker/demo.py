"""``hotline demo``: the synthetic district built and the shipped schedules replayed over it.

The steps, each with a progress bar on stderr when it can take more than a few seconds: the reduced
fonts (once per machine), a fresh SQLite database with the sample directory, the synthetic export
(``worker/demo_data.py``) imported as a real platform's file would be, the schedules replayed slot
by slot on a simulated clock (``worker/replay.py``), and the messages — written as ``.eml`` files
for a sample (the first message of each kind) or for all of them (``--eml all``); the others stay
queued in the demo's outbox, where ``hotline outbox send`` would write them.  Warnings logged on the
way (the calendar's coverage, for one) are gathered and printed once each in the summary, never
inside a progress bar.  Every attachment is stored once: the documents in ``documents/``, the
outbox referring to them (``worker/mail.py``).
"""
from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Self

import click
from tqdm import tqdm

EML_CHOICES = ("sample", "all", "none")
# What the demo replaces in its folder: its own outputs, nothing else a user may keep there.
OUTPUTS = ("documents", "outbox", "hotline.db", "hotline.db-wal", "hotline.db-shm", "hotline.db.import-lock",
           "export.csv", "web-secret")


@dataclass
class Options:
    out_dir: Path
    weeks: int = 8
    until: date = date(2026, 11, 16)
    per_day: int = 35
    seed: int = 12345
    eml: str = "sample"


class Warnings(logging.Handler):
    """The warnings logged during the demo, once each: records of the same message template and
    the same arguments but their dates (the calendar's, on every daily sheet) are one warning."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen: dict[tuple, list] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        key = (record.name, str(record.msg), tuple(str(a) for a in args if not isinstance(a, date)))
        if key in self.seen:
            self.seen[key][1] += 1
        else:
            self.seen[key] = [record.getMessage(), 1]

    def lines(self) -> list[str]:
        return [message + (f" (logged {n} times, the first shown)" if n > 1 else "") for message, n in self.seen.values()]


@dataclass
class Outcome:
    documents: int = 0
    messages: Counter = field(default_factory=Counter)   # state → count
    written: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Lines:
    """Progress where no bar can be drawn (a log, a pipe): a line every half minute and one at the end."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "", every: float = 30.0):
        self.total, self.desc, self.unit, self.every, self.n = total, desc, unit, every, 0
        self.started = self.shown = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.shown >= self.every:
            self.shown = time.monotonic()
            self._line()

    def _line(self) -> None:
        of = f"/{self.total}" if self.total else ""
        click.echo(f"{self.desc}: {self.n}{of}{self.unit} in {time.monotonic() - self.started:.0f} s", err=True)

    def close(self) -> None:
        self._line()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bar(**kwargs) -> tqdm | Lines:
    """A progress bar on stderr when it is a terminal, else progress lines."""
    if sys.stderr.isatty():
        return tqdm(mininterval=0.5, **kwargs)
    return Lines(**kwargs)


def default_folder() -> Path:
    """Where a demo goes by default: beside the service's own files in HOTLINE_VAR (the image's
    non-root user can write nowhere else), or ./out in a checkout."""
    from .config import ConfigError

    var = os.environ.get("HOTLINE_VAR")
    folder = Path(var) / "demo" if var else Path.cwd() / "out"
    if not os.access(folder.parent, os.W_OK):
        raise ConfigError(f"{folder.parent} is not writable: pass --out FOLDER or set HOTLINE_VAR")
    return folder


def run(options: Options) -> int:
    """The whole demo; its summary and closing commands printed; the exit status returned."""
    started = time.time()
    out_dir = options.out_dir
    clear(out_dir)
    os.environ["HOTLINE_VAR"] = str(out_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{out_dir / 'hotline.db'}"
    os.environ.pop("SMTP_HOST", None)
    caught = Warnings()
    root = logging.getLogger()
    root.addHandler(caught)
    try:
        outcome, result, finish = _steps(options)
    finally:
        root.removeHandler(caught)
        from .db import get_engine
        get_engine(None).dispose()   # every connection closed: the WAL folded into hotline.db
    outcome.warnings = caught.lines()
    _summary(options, outcome, result, time.time() - started)
    _closing(out_dir, finish)
    return 1 if outcome.failures else 0


def clear(out_dir: Path) -> None:
    for name in OUTPUTS:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _steps(options: Options):
    from . import tasks  # noqa: F401  (the jobs the schedules name)
    from .config import load_settings
    from .db import session_factory

    settings = load_settings()
    outcome = Outcome()
    _fonts(settings)
    _district(options, settings)
    result, finish = _replay(options, settings)
    _calendar_ahead(finish)
    outcome.documents, outcome.failures = len(result.documents), result.failures
    which = {"all": "every message", "sample": "the first of each kind", "none": "none"}[options.eml]
    click.echo(f"5/5 messages: .eml files for {which}")
    outcome.written = _write_messages(session_factory(), settings, options.eml)
    outcome.messages = _message_states(session_factory())
    return outcome, result, finish


def _fonts(settings) -> None:
    from .fonts import prepare

    click.echo(f"1/5 fonts: the reduced CJK faces in {settings.fonts_dir} (prepared once per machine)")
    fonts_bar: list[tqdm | Lines] = []

    def progress(built: int, missing: int) -> None:
        if not fonts_bar:
            click.echo(f"    {missing} to prepare, about a minute")
            fonts_bar.append(bar(total=missing, desc="    preparing", unit=" faces"))
        fonts_bar[0].update(built - int(fonts_bar[0].n))

    prepare(settings.fonts_dir, progress)
    for b in fonts_bar:
        b.close()


def _district(options: Options, settings) -> None:
    """A fresh database with the sample directory, and the synthetic export imported into it."""
    from .calendar import load_calendar
    from .config import PROJECT_ROOT
    from .db import init_db, session_factory, session_scope
    from .demo_data import Generator, write_export
    from .directory import load_directory
    from .imports import import_file
    from .rules import load_rules

    click.echo(f"2/5 database and directory: {settings.database_url}")
    init_db()
    with session_scope() as s:
        counts = load_directory(s, PROJECT_ROOT / "db" / "seed" / "district.yaml")
    click.echo("    " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    first = options.until - timedelta(weeks=options.weeks + 5)   # five weeks of history before the replay
    last = options.until - timedelta(days=1)
    cal, rules = load_calendar(), load_rules()
    export = options.out_dir / "export.csv"
    click.echo(f"3/5 synthetic tickets received {first}..{last}, {options.per_day} a day and the district's "
               f"stories (worker/demo_data.py) → {export.name}, then imported")
    gen = Generator(cal, seed=options.seed, per_day=options.per_day, stories=True)
    with bar(total=gen.count_for(first, last), desc="    export", unit=" tickets") as b:
        write_export(export, gen.tickets(first, last, datetime.combine(options.until, datetime.min.time())),
                     progress=b.update)
    with bar(desc="    import", unit=" rows") as b:
        report = import_file(session_factory(), export, cal, rules, progress=b.update)
    click.echo(f"    {report.tickets_new} tickets, {report.events_new} events imported")


def _replay(options: Options, settings):
    from .db import session_scope
    from .replay import plan, replay
    from .schedules import load

    config = load(settings.schedules_file)
    start = options.until - timedelta(weeks=options.weeks)
    begin = datetime.combine(start, datetime.min.time())
    finish = datetime.combine(options.until, datetime.min.time()) + timedelta(hours=12)
    total = len(plan(config, begin, finish))
    click.echo(f"4/5 the schedules of {settings.schedules_file.name} replayed {start}..{options.until} ({total} slots)")
    with session_scope() as s, bar(total=total, desc="    replay", unit=" slots") as b:
        result = replay(s, config, begin, finish, settings, progress=b.update)
    return result, finish


def _calendar_ahead(finish: datetime) -> None:
    """The scheduler's calendar check (config/alerts.yaml ``calendar_days``) as of the replay's end,
    logged as a warning for the summary: a replay runs no scheduler, and the daily sheet leaves a
    missing year to the operators, so this is where the demo's reader hears of it."""
    from .alerts import settings as alert_settings
    from .calendar import load_calendar

    cal, days = load_calendar(), alert_settings().calendar_days
    for year in cal.missing_years(finish, days):
        logging.getLogger("hotline.demo").warning(
            "calendar: no holiday data for %s within %s days of %s: add the State Council's notice to %s, "
            "then run hotline recompute", year, days, f"{finish:%Y-%m-%d}", cal.calendar_file)


def _write_messages(factory, settings, eml: str) -> int:
    """The outbox delivered as .eml files (no SMTP in a demo): the first message of each kind, or all."""
    from sqlalchemy import func, select

    from .delivery import deliver
    from .models import OutboxMessage

    if eml == "none":
        return 0
    with factory() as s:
        by_kind = dict(s.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
    written = 0
    with bar(total=sum(by_kind.values()) if eml == "all" else len(by_kind), desc="    .eml", unit=" files") as b:
        if eml == "sample":
            for kind in sorted(by_kind):
                n = deliver(factory, settings.smtp, settings.outbox_dir, kinds=(kind,), limit=1).written
                written += n
                b.update(n)
        else:
            while n := deliver(factory, settings.smtp, settings.outbox_dir, limit=200).written:
                written += n
                b.update(n)
    return written


def _message_states(factory) -> Counter:
    from sqlalchemy import func, select

    from .models import OutboxMessage

    with factory() as s:
        return Counter(dict(s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()))


def _summary(options: Options, outcome: Outcome, result, elapsed: float) -> None:
    from .config import load_settings
    from .models import MessageState
    from .replay import print_report

    settings = load_settings()
    click.echo("")
    print_report(result)
    queued = outcome.messages.get(MessageState.PENDING.value, 0)
    click.echo(f"{outcome.documents} documents in {settings.documents_dir}")
    which = {"sample": " (the first of each kind)", "all": "", "none": ""}[options.eml]
    click.echo(f"{sum(outcome.messages.values())} messages: {outcome.written} written as .eml files{which} in "
               f"{settings.outbox_dir}" + (f", {queued} left queued in the outbox (--eml all writes every one)"
                                           if queued else ""))
    click.echo(f"out folder: {_size(options.out_dir) / 1e6:.0f} MB")
    if outcome.warnings:
        click.echo("warnings for the operator (each once):")
        for line in outcome.warnings:
            click.echo(f"  {line}")
    click.echo(f"done in {elapsed:.0f} s")


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def hotline_command() -> str:
    """How the reader runs ``hotline`` from where they are: the command on PATH if that is this one,
    else ``./run hotline`` in a checkout, else the program's own path."""
    from .config import PROJECT_ROOT

    me = Path(sys.argv[0]).resolve()
    on_path = shutil.which("hotline")
    if on_path and Path(on_path).resolve() == me:
        return "hotline"
    run_script = PROJECT_ROOT / "run"
    if run_script.exists():
        return ("./run" if Path.cwd().resolve() == PROJECT_ROOT.resolve() else shlex.quote(str(run_script))) + " hotline"
    return shlex.quote(str(me)) if me.name == "hotline" else "hotline"


def _closing(out_dir: Path, finish: datetime) -> None:
    hotline = hotline_command()
    url = f"sqlite:///{out_dir / 'hotline.db'}"
    env = f"export DATABASE_URL={shlex.quote(url)} HOTLINE_VAR={shlex.quote(str(out_dir))}"
    click.echo("\nnext: the web console on this history (then open http://127.0.0.1:8080):")
    click.echo(f"  {env}")
    click.echo(f"  {hotline} console-user add center@example.gov.cn")
    click.echo(f"  {hotline} web --insecure-cookies --as-of '{finish - timedelta(hours=2):%Y-%m-%d %H:%M}'")
