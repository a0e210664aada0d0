"""The ``hotline`` command."""
from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from pathlib import Path

import click

from .config import ConfigError, load_settings


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _calendar(path: str | None = None):
    from .calendar import load_calendar

    try:
        return load_calendar(path, strict=True)
    except ConfigError as exc:
        fail(str(exc), 2)


def _rules():
    from .rules import load_rules

    try:
        return load_rules()
    except ConfigError as exc:
        fail(str(exc), 2)


def _moment(text: str | None) -> datetime:
    from .times import now_local, parse_local

    if not text:
        return now_local()
    try:
        return parse_local(text)
    except ValueError as exc:
        fail(str(exc), 2)


def _schedules(file: str | None):
    """The schedules file (default: the configured one), or every problem printed and exit 1."""
    from .schedules import ScheduleError, load

    path = Path(file) if file else load_settings().schedules_file
    try:
        return load(path)
    except ScheduleError as exc:
        for p in exc.problems:
            click.echo(p, err=True)
        sys.exit(1)


@click.group()
def main():
    """Report and notification service of the 12345 hotline (12345 热线报表与通知服务)."""


@main.command("init-db")
@click.option("--directory", "with_directory", is_flag=True,
              help="then load the directory file (HOTLINE_CONFIG/directory.yaml) when there is one")
def init_db_cmd(with_directory):
    """Create or upgrade the database schema (Alembic)."""
    from .db import init_db

    init_db()
    settings = load_settings()
    click.echo(f"database ready: {settings.database_url}")
    if with_directory and settings.directory_file.exists():
        _load_directory(settings.directory_file)


# -- directory and import -------------------------------------------------------------------------
@main.group()
def directory():
    """The district directory: units, people, categories."""


@directory.command("load")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def directory_load(file):
    """Load (upsert) units, people and categories from FILE (YAML, or CSV per section); by default
    the directory file of the configuration (HOTLINE_CONFIG/directory.yaml, or the demo district)."""
    from .db import init_db

    init_db()
    _load_directory(file or load_settings().directory_file)


def _load_directory(file) -> None:
    from .db import session_scope
    from .directory import load_directory

    try:
        with session_scope() as s:
            counts = load_directory(s, file)
    except ConfigError as exc:
        fail(f"{exc} — nothing was changed", 1)
    click.echo(f"{file}: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + " loaded")


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--mapping", type=click.Path(dir_okay=False), help="column-mapping YAML (default: the sample format)")
@click.option("--encoding", help="force the file encoding (e.g. gbk); default: UTF-8, else GB18030")
@click.option("--dry-run", is_flag=True, help="validate only, store nothing")
def import_cmd(files, mapping, encoding, dry_run):
    """Import ticket exports (CSV, XLSX, JSONL). Exit status 1 if any row was refused."""
    from tqdm import tqdm

    from .calendar import UnknownYearError
    from .db import init_db, session_factory
    from .importer import ImportFileError, Mapping, import_file

    init_db()
    cal, rules = _calendar(), _rules()
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


@main.command("demo-data")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="CSV file to write")
@click.option("--from", "start", default="2026-09-01", show_default=True)
@click.option("--to", "end", default="2026-11-15", show_default=True)
@click.option("--per-day", default=100, show_default=True, help="tickets received per day (and the district's stories)")
@click.option("--seed", default=12345, show_default=True)
def demo_data_cmd(out, start, end, per_day, seed):
    """Write the synthetic district's tickets as a sample export (then: hotline import FILE)."""
    from datetime import timedelta

    from tqdm import tqdm

    from .demo_data import Generator, write_export

    start_d, end_d = date.fromisoformat(start), date.fromisoformat(end)
    gen = Generator(_calendar(), seed=seed, per_day=per_day, stories=True)
    until = datetime.combine(end_d + timedelta(days=1), datetime.min.time())
    with tqdm(total=gen.count_for(start_d, end_d), unit=" tickets", disable=not sys.stderr.isatty()) as bar:
        n = write_export(Path(out), gen.tickets(start_d, end_d, until), progress=bar.update)
    click.echo(f"{n} tickets written to {out}")


# -- calendar and deadlines -----------------------------------------------------------------------
@main.group()
def calendar():
    """The working-day calendar."""


@calendar.command("check")
@click.option("--calendar", "calendar_file", type=click.Path(dir_okay=False))
@click.option("--today", help="check as of this date (default: today)")
def calendar_check(calendar_file, today):
    """Print the years covered and warn, from November on, when next year is missing."""
    cal = _calendar(calendar_file)
    today_d = date.fromisoformat(today) if today else date.today()
    cov = cal.coverage()
    click.echo(f"calendar: {len(cov)} years covered, {cov[0].year}–{cov[-1].year}")
    for c in cov[-3:]:
        click.echo(f"  {c.year}: {c.source}")
    problems = []
    if not cal.knows(today_d.year):
        problems.append(f"this year ({today_d.year}) is not covered")
    if today_d.month >= 11 and not cal.knows(today_d.year + 1):
        problems.append(f"next year ({today_d.year + 1}) is not covered yet")
    for p in problems:
        click.echo(f"warning: {p}: add the State Council's holiday notice under 'years:' in {cal.calendar_file}")
    sys.exit(1 if problems else 0)


@main.command()
@click.option("--at", "at", required=True, help="dispatch time, e.g. '2025-04-30 10:00'")
@click.option("--source", required=True, help="national, provincial, city, enterprise_city, enterprise_provincial")
@click.option("--urgent", help="policy, livelihood or safety")
@click.option("--extension", default=0, help="working days of extension granted")
@click.option("--plan-date", help="plan date (列入计划)")
@click.option("--calendar", "calendar_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def deadline(at, source, urgent, extension, plan_date, calendar_file, as_json):
    """Print the due times for a ticket dispatched at AT."""
    from .calendar import UnknownYearError
    from .rules import deadlines_for
    from .times import iso

    cal, rules = _calendar(calendar_file), _rules()
    if extension > rules.extension_max_working_days:
        click.echo(f"note: --extension {extension}: the policy allows at most {rules.extension_max_working_days} "
                   f"working days of extension in all (extension.max_working_days in config/rules.yaml); "
                   f"{rules.extension_max_working_days} used", err=True)
    if extension < 0:
        fail(f"--extension {extension}: an extension cannot be negative", 2)
    try:
        due = deadlines_for(cal, rules, _moment(at), source, urgent, extension,
                            date.fromisoformat(plan_date) if plan_date else None)
    except UnknownYearError as exc:
        fail(str(exc), 2)
    except ConfigError as exc:
        fail(str(exc), 2)
    out = {k: iso(v) for k, v in due.items()}
    if as_json:
        click.echo(json.dumps(out))
    else:
        labels = {"reply_due": "reply due (答复时限)", "completion_due": "completion due (办结时限)",
                  "return_until": "return window ends (回退时限)"}
        for k, v in out.items():
            click.echo(f"{labels[k]:<32} {v or '—'}")


@main.command()
def recompute():
    """Rebuild every assignment's due times (after a change of calendar.yaml or rules.yaml)."""
    from .calendar import UnknownYearError
    from .db import init_db
    from .tasks.maintenance import recompute_deadlines

    init_db()
    try:
        n = recompute_deadlines()
    except UnknownYearError as exc:
        fail(str(exc), 2)
    click.echo(f"{n} assignments recomputed")


@main.command()
@click.option("--period", type=click.Choice(["week", "month", "quarter", "year", "day"]), default="week")
@click.option("--at", "at", help="a moment inside the period (default: now)")
@click.option("--json", "as_json", is_flag=True)
def metrics(period, at, as_json):
    """Print every unit's metrics for the period containing AT."""
    from .db import session_scope
    from .metrics import compute
    from .periods import containing

    with session_scope() as s:
        result = compute(s, containing(period, _moment(at)))
    if as_json:
        click.echo(json.dumps([u.as_dict() for u in result.units], ensure_ascii=False, indent=1))
        return
    click.echo(f"{result.period.key} {result.period.label()}")
    click.echo(f"{'rank':>4} {'unit':<16} {'volume':>6} {'响应率':>16} {'解决率':>16} {'满意率':>16} {'超期率':>16}  flag")
    for u in result.units:
        flag = "FAILING" if u.failing else ("bottom" if u.bottom else "")
        click.echo(f"{u.rank or '-':>4} {u.unit_name:<16} {u.volume:>6} {u.response!s:>16} {u.resolution!s:>16} "
                   f"{u.satisfaction!s:>16} {u.overdue!s:>16}  {flag}")


# -- jobs, runs, scheduler, worker ------------------------------------------------------------------
def _enqueuer(inline: bool):
    """Send a run to its actor over the broker, or execute it in this process."""
    from .jobs import execute
    from .tasks import ACTORS

    def enqueue(run):
        """Send the run; the broker's message id, so the scheduler can tell a lost message later."""
        if inline:
            try:
                execute(run.id)
            except Exception as exc:  # noqa: BLE001 — recorded in the ledger; the scheduler goes on
                click.echo(f"run {run.id} ({run.job}) failed: {exc}", err=True)
            return None
        return ACTORS[run.job].send(run.id).message_id
    return enqueue


@main.command("run")
@click.argument("job_name", metavar="JOB")
@click.option("--at", "at", help="a moment inside the (finished) period to run for; default: the last complete "
                                 "period (a daily job: now)")
@click.option("--inline", is_flag=True, help="execute in this process (no Redis needed)")
@click.option("--dry-run", is_flag=True, help="preview: documents and .eml messages in a preview folder; nothing is "
                                             "kept or queued for sending")
@click.option("--out", "out", type=click.Path(file_okay=False), help="the preview folder (--dry-run)")
def run_cmd(job_name, at, inline, dry_run, out):
    """Run one job now for the period containing AT, or the last complete period."""
    from .db import init_db, session_scope
    from .jobs import PeriodNotEnded, execute, manual_run, preview
    from .tasks import ACTORS

    init_db()
    moment = _moment(at) if at else None
    if dry_run:
        folder = Path(out or load_settings().var_dir / "preview").resolve()
        try:
            run, summary, written = preview(job_name, moment, folder)
        except KeyError as exc:
            fail(str(exc.args[0]), 2)
        except PeriodNotEnded as exc:
            fail(str(exc), 2)
        docs = summary.get("documents", [])
        click.echo(f"preview of {job_name} {run.period_key} (nothing kept, nothing queued for sending): "
                   f"{len(docs)} document(s) in {folder / 'documents'}, {written} message(s) as .eml in "
                   f"{folder / 'outbox'}")
        for d in docs:
            click.echo(f"  document: {d['path']}")
        return
    inline = inline or not load_settings().redis_url
    with session_scope() as s:
        try:
            run = manual_run(s, job_name, moment)
        except KeyError as exc:
            fail(str(exc.args[0]), 2)
        except PeriodNotEnded as exc:
            fail(str(exc), 2)
        run_id, period = run.id, run.period_key
    if not inline:
        ACTORS[job_name].send(run_id)
        click.echo(f"run {run_id}: {job_name} {period} queued")
        return
    try:
        state = execute(run_id)
    except Exception as exc:  # noqa: BLE001 — the ledger has the traceback; the operator gets one line
        fail(f"run {run_id}: {job_name} {period} failed: {exc}")
    _print_run(run_id, state)


def _print_run(run_id: int, state: str) -> None:
    from .db import session_scope
    from .models import Run

    with session_scope() as s:
        run = s.get(Run, run_id)
        click.echo(f"run {run.id}: {run.job} {run.period_key} {state}")
        for d in (run.summary or {}).get("documents", []):
            click.echo(f"  document: {d['path']}")
        if (run.summary or {}).get("messages"):
            click.echo(f"  messages queued: {run.summary['messages']}")
        for m in (run.summary or {}).get("missing_recipients", []):
            click.echo(f"  warning: {m}")
        for f in (run.summary or {}).get("files", []):      # the inbox's
            click.echo(f"  file: {f['file']} → {f['outcome']}")
        for w in (run.summary or {}).get("waiting", []):
            click.echo(f"  left in the inbox: {w}")


@main.command("runs")
@click.option("--failed", is_flag=True, help="only failed runs")
@click.option("--job", help="only this job")
@click.option("--limit", default=30, show_default=True)
def runs_cmd(failed, job, limit):
    """List the run ledger, newest first, with the documents each run produced."""
    from sqlalchemy import select

    from .db import init_db, session_scope
    from .models import Document, Run

    init_db()
    with session_scope() as s:
        q = select(Run).order_by(Run.id.desc()).limit(limit)
        if failed:
            q = q.where(Run.state == "failed")
        if job:
            q = q.where(Run.job == job)
        rows = s.scalars(q).all()
        docs = {}
        for d in s.scalars(select(Document).where(Document.run_id.in_([r.id for r in rows]))):
            docs.setdefault(d.run_id, []).append(d)
        for r in rows:
            took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at and r.started_at else ""
            click.echo(f"{r.id:>6} {r.state:<9} {r.job:<18} {r.period_key:<10} {r.schedule:<24} "
                       f"{r.nominal_at:%Y-%m-%d %H:%M} {took}")
            if r.error:
                click.echo("         " + r.error.strip().splitlines()[0][:200])
                for line in r.error.strip().splitlines()[1:6]:
                    if r.job == "config":
                        click.echo("         " + line[:200])
            for d in docs.get(r.id, []):
                click.echo(f"         {d.kind}: {d.path} sha256:{d.sha256[:12]}")


@main.group()
def schedules():
    """schedules.yaml: validate and preview."""


@schedules.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def schedules_validate(file):
    """Report every problem of FILE (default: schedules.yaml) with its line."""
    cfg = _schedules(file)
    click.echo(f"{cfg.path}: {len(cfg.schedules)} schedules, valid")


@schedules.command("next")
@click.option("--count", default=3, show_default=True)
@click.option("--from", "start", help="preview from this moment (default: now)")
@click.option("--file", "file", type=click.Path(dir_okay=False))
def schedules_next(count, start, file):
    """Preview the coming fire times of each schedule, each with the period it will report, holiday
    moves noted; a gap in the working-day calendar is named once."""
    from datetime import timedelta

    from .jobs import JOBS, resolve_period
    from .schedules import slots

    cfg = _schedules(file)
    cal = _calendar()
    begin = _moment(start)
    gaps = set()
    for sched in cfg.schedules:
        if not sched.enabled:
            click.echo(f"{sched.name} ({sched.actor}): disabled")
            continue
        click.echo(f"{sched.name} ({sched.actor}, {sched.cron}, days: {sched.days})")
        kind = JOBS[sched.actor].period_kind
        shown, cursor, horizon = 0, begin, begin + timedelta(days=400)
        while shown < count and cursor < horizon:
            batch = slots(sched, cfg.timezone, cal, cursor, min(cursor + timedelta(days=31), horizon))
            for slot in batch:
                if slot.effective_at is None and "calendar has no data for" in slot.note:
                    gaps.add(slot.nominal_at.year)
                    click.echo(f"  from {slot.nominal_at:%Y-%m-%d} on: unknown (no working-day calendar for "
                               f"{slot.nominal_at.year})")
                    shown = count
                    break
                if slot.effective_at is None:
                    if not slot.note.startswith("not the first"):
                        click.echo(f"  {slot.nominal_at:%Y-%m-%d %a %H:%M}  {slot.note}")
                    continue
                anchor = slot.nominal_at if kind not in ("day", "none") else slot.effective_at
                period, _ = resolve_period(kind, anchor, sched.period)
                reports = f"  reports {period.label()}" if period and kind != "day" else ""
                if slot.effective_at != slot.nominal_at:
                    click.echo(f"  {slot.nominal_at:%Y-%m-%d %a %H:%M}  → {slot.effective_at:%Y-%m-%d %a %H:%M} "
                               f"({slot.note}){reports}")
                else:
                    click.echo(f"  {slot.effective_at:%Y-%m-%d %a %H:%M}{reports}")
                shown += 1
                if shown >= count:
                    break
            cursor = batch[-1].nominal_at if batch else min(cursor + timedelta(days=31), horizon)
    for year in sorted(gaps):
        click.echo(f"note: the working-day calendar has no data for {year}: add the State Council's holiday notice "
                   f"under 'years: {year}:' in {cal.calendar_file}, then run hotline recompute")


@main.command()
@click.option("--inline", is_flag=True, help="execute jobs in this process instead of enqueueing them")
@click.option("--tick", default=5.0, show_default=True, help="seconds between passes")
@click.option("--lease", default=15.0, show_default=True, help="seconds a replica holds the Redis lease")
@click.option("--metrics-port", type=int, help="serve the hotline_* Prometheus series on this port")
@click.option("--metrics-addr", default="127.0.0.1", show_default=True, help="the address to serve them on")
def scheduler(inline, tick, lease, metrics_port, metrics_addr):
    """The long-running scheduler (several replicas may run; one is active)."""
    from . import logs
    from .db import init_db
    from .scheduler import Scheduler
    from .schedules import ScheduleError

    logs.setup()
    init_db()
    settings = load_settings()
    if not settings.redis_url and not inline:
        fail("REDIS_URL is not set: start Redis and set REDIS_URL, or use --inline (single process)", 2)
    try:
        sched = Scheduler(settings.schedules_file, redis_url=settings.redis_url, enqueue=_enqueuer(inline),
                          tick_seconds=tick, lease_seconds=lease)
        if metrics_port:
            from .db import session_factory
            from .monitoring import serve
            serve(session_factory(), metrics_port, metrics_addr, lambda: sched.last_tick_monotonic)
        sched.run_forever()
    except ScheduleError as exc:
        fail(f"schedules.yaml is invalid and there is no earlier valid version:\n{exc}", 2)


@main.command()
@click.option("--processes", default=1, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--metrics", is_flag=True, help="expose Prometheus metrics (port $dramatiq_prom_port, default 9191)")
@click.option("--dead", is_flag=True, help="list dead-lettered messages and exit")
def worker(processes, threads, metrics, dead):
    """A Dramatiq worker for every job family (needs REDIS_URL, or an amqp:// URL)."""
    import os

    settings = load_settings()
    if not settings.redis_url:
        fail("REDIS_URL is not set: a worker needs the broker (use `hotline run JOB --inline` without one)", 2)
    if dead:
        import redis
        client = redis.Redis.from_url(settings.redis_url)
        ns = os.environ.get("HOTLINE_REDIS_NAMESPACE", "hotline")
        for key in sorted(client.scan_iter(f"{ns}:*.XQ")):
            for mid, _ in client.zscan_iter(key):
                click.echo(f"{key.decode()} {mid.decode()}")
        return
    from .db import init_db
    init_db()
    if metrics:
        os.environ["HOTLINE_PROMETHEUS"] = "1"
    os.environ["HOTLINE_WORKER_LOGS"] = "1"  # the worker processes log in HOTLINE_LOG_FORMAT, Dramatiq's lines too
    from dramatiq.cli import main as dramatiq_main
    sys.argv = ["hotline-worker", "worker.tasks", "--processes", str(processes), "--threads", str(threads)]
    sys.exit(dramatiq_main())


@main.command()
@click.argument("role", type=click.Choice(["scheduler", "worker"]))
def health(role):
    """Exit 0 if a ROLE process on this host is alive (a container's healthcheck).

    A scheduler replica (active or standing by) says so in Redis after every pass; a worker process
    while its consumer and worker threads all run.  Both keys expire within 30 s of the last word."""
    import redis

    from .broker import live_workers
    from .config import instance_name
    from .scheduler import alive_key

    settings = load_settings()
    if not settings.redis_url:
        fail("REDIS_URL is not set: the health of the scheduler and workers is kept in Redis", 2)
    host = instance_name()
    try:
        if role == "scheduler":
            state = redis.Redis.from_url(settings.redis_url, socket_timeout=5).get(alive_key("scheduler", host))
            found = [f"{host} {state.decode()}"] if state else []
        else:
            namespace = os.environ.get("HOTLINE_REDIS_NAMESPACE", "hotline")
            found = [w for w in live_workers(settings.redis_url, namespace) if w.startswith(f"{host}:")]
    except redis.RedisError as exc:
        fail(f"unhealthy: Redis unreachable ({exc})", 1)
    if not found:
        fail(f"unhealthy: no live {role} on {host} in the last 30 s", 1)
    click.echo(f"healthy: {', '.join(found)}")


# -- web console ----------------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0 in a container)")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="processes (each with its own threads)")
@click.option("--insecure-cookies", is_flag=True, help="session cookies without Secure (plain HTTP on a workstation)")
@click.option("--remote-user-header", help="trust the login a reverse proxy asserts in this header (e.g. X-Remote-User)")
@click.option("--as-of", "as_of", help="count as of this moment instead of now (a replayed history, such as the demo's)")
def web(host, port, workers, insecure_cookies, remote_user_header, as_of):
    """Serve the web console (今日, 单位, 通报与文书, 运行) for the users of `hotline console-user`."""
    import uvicorn

    from .db import init_db
    from .web.app import WeakSecret, session_secret

    try:
        session_secret()   # checked, and made here once before the server's processes read it
    except WeakSecret as exc:
        fail(str(exc), 2)
    init_db()
    os.environ["HOTLINE_WEB_SECURE"] = "0" if insecure_cookies else "1"
    if remote_user_header:
        os.environ["HOTLINE_WEB_REMOTE_USER_HEADER"] = remote_user_header
    if as_of:
        os.environ["HOTLINE_WEB_AS_OF"] = _moment(as_of).isoformat(sep=" ")
    click.echo(f"console on http://{host}:{port}/ ({'plain-HTTP cookies' if insecure_cookies else 'Secure cookies'}"
               f"{', logins from ' + remote_user_header if remote_user_header else ''})")
    uvicorn.run("worker.web.app:from_environment", factory=True, host=host, port=port, workers=workers,
                access_log=False, proxy_headers=True, server_header=False, log_config=None)


@main.group("console-user")
def console_user():
    """Logins of the web console: add, password, disable, list.  What a login sees comes from the
    directory entry with the same e-mail address; --operations adds the console's operations role."""


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@console_user.command("add")
@click.argument("email")
@click.option("--operations", is_flag=True, help="may re-run periods and hold, release or retry messages")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--proxy-only", is_flag=True, help="no password: signs in only through --remote-user-header")
def console_user_add(email, operations, password_stdin, proxy_only):
    """Add a login (or change its role and password)."""
    from sqlalchemy import select

    from .addresses import AddressError, validate_address
    from .db import init_db, session_scope
    from .models import ConsoleUser, Person
    from .times import now_local
    from .web.access import end_sessions, hash_password

    try:
        email = validate_address(email).lower()
    except AddressError as exc:
        fail(f"console-user add: EMAIL: {exc}", 2)
    try:
        digest = None if proxy_only else hash_password(_password(password_stdin))
    except ValueError as exc:
        fail(str(exc), 2)
    init_db()
    with session_scope() as s:
        known = s.scalars(select(Person).where(Person.email == email)).all()
        if not known and not operations:
            fail(f"{email} is not in the directory: load it first (hotline directory load), or give --operations", 2)
        user = s.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).first()
        if user is None:
            user = ConsoleUser(email=email, created_at=now_local(), session_version=0)
            s.add(user)
        else:   # a new password, or a disabled login enabled again: no session from before opens a page
            end_sessions(user)
        user.password_hash, user.operations, user.disabled = digest, operations, False
        roles = ", ".join(p.role + (f" of {p.unit_code}" if p.unit_code else "") for p in known)
    click.echo(f"{email}: {roles or 'not in the directory'}{' + operations' if operations else ''}")


@console_user.command("disable")
@click.argument("email")
def console_user_disable(email):
    """Disable a login: its sessions end at their next request."""
    from sqlalchemy import select

    from .db import init_db, session_scope
    from .models import ConsoleUser
    from .web.access import end_sessions

    init_db()
    with session_scope() as s:
        user = s.scalars(select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())).first()
        if user is not None:
            user.disabled = True
            end_sessions(user)
    if user is None:
        fail(f"no console login {email}", 1)
    click.echo(f"{email}: disabled")


@console_user.command("list")
def console_user_list():
    """Every login with its directory roles."""
    from sqlalchemy import select

    from .db import init_db, session_scope
    from .models import ConsoleUser
    from .web.access import viewer_for

    init_db()
    with session_scope() as s:
        for u in s.scalars(select(ConsoleUser).order_by(ConsoleUser.email)):
            viewer = viewer_for(s, u)
            state = "disabled" if u.disabled else "active"
            click.echo(f"{u.email:<36} {state:<8} {viewer.label if viewer else 'sees nothing (not in the directory)'}")


# -- outbox ---------------------------------------------------------------------------------------
def _operator(by: str | None) -> str:
    import getpass

    return by or os.environ.get("HOTLINE_OPERATOR") or getpass.getuser()


@main.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="every message, sent and cancelled included")
@click.option("--run", "run_id", type=int, help="only the messages of this run")
@click.pass_context
def outbox(ctx, show_all, run_id):
    """List pending, held and failed messages (subcommands: send, retry, hold, release, cancel)."""
    if ctx.invoked_subcommand:
        return
    from sqlalchemy import select

    from .db import init_db, session_scope
    from .models import OutboxMessage

    init_db()
    with session_scope() as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if not show_all:
            q = q.where(OutboxMessage.state.in_(("pending", "sending", "failed", "held")))
        if run_id:
            q = q.where(OutboxMessage.run_id == run_id)
        rows = s.scalars(q).all()
        for r in rows:
            click.echo(f"{r.id:>6} {r.state:<9} attempts={r.attempts} run={r.run_id or '-'} {r.recipient_role:<17} "
                       f"{r.recipient_email:<32} {r.subject[:60]}")
            if r.last_error:
                click.echo(f"         last reply: {r.last_error[:200]}")
            if r.operator:
                click.echo(f"         {r.state} by {r.operator} at {r.operated_at:%Y-%m-%d %H:%M}")
        click.echo(f"{len(rows)} message(s)" + ("" if show_all else " pending, held or failed"))


@outbox.command("send")
@click.option("--dry-run", is_flag=True, help="write the due messages as .eml files under outbox/preview; send nothing")
def outbox_send(dry_run):
    """Deliver what is due now (SMTP if SMTP_HOST is set, else .eml files)."""
    from .db import init_db, session_factory
    from .mail import deliver

    init_db()
    settings = load_settings()
    report = deliver(session_factory(), settings.smtp, settings.outbox_dir, dry_run=dry_run)
    if dry_run:
        click.echo(f"preview: {report.written} message(s) written to {settings.outbox_dir / 'preview'}; nothing sent")
        for r in report.refusals:
            click.echo(f"  would fail: {r}", err=True)
        return
    click.echo(f"sent {report.sent}, written {report.written}, deferred {report.deferred}, failed {report.failed}")
    for r in report.refusals:
        click.echo(f"  refused: {r}", err=True)
    sys.exit(1 if report.failed else 0)


def _change_messages(action: str, ids: tuple[int, ...], run_id: int | None, by: str | None) -> None:
    from sqlalchemy import select

    from .db import init_db, session_scope
    from .mail import set_state
    from .models import OutboxMessage

    if not ids and not run_id:
        fail(f"say which messages to {action}: message ids, or --run RUN", 2)
    init_db()
    with session_scope() as s:
        targets = list(ids)
        if run_id:
            targets += s.scalars(select(OutboxMessage.id).where(OutboxMessage.run_id == run_id)).all()
        changed = set_state(s, targets, action, _operator(by))
        states = dict(s.execute(select(OutboxMessage.id, OutboxMessage.state)
                                .where(OutboxMessage.id.in_(targets or [0]))).all())
    for mid, old, new in changed:
        click.echo(f"{mid}: {old} → {new}")
    untouched = sorted(set(targets) - {c[0] for c in changed})
    for mid in untouched:
        click.echo(f"{mid}: left {states.get(mid, 'unknown (no such message)')}", err=True)
    done = {"hold": "held", "release": "released", "cancel": "cancelled"}[action]
    click.echo(f"{len(changed)} message(s) {done} by {_operator(by)}")
    sys.exit(0 if changed or not untouched else 1)


for _action, _help in (("hold", "Hold messages: they are not sent until released."),
                       ("release", "Release held messages: they are sent at the next delivery."),
                       ("cancel", "Cancel messages: they are never sent.")):
    def _command(ids, run_id, by, _action=_action):
        _change_messages(_action, ids, run_id, by)
    _command.__doc__ = _help
    outbox.command(_action)(click.argument("ids", nargs=-1, type=int)(
        click.option("--run", "run_id", type=int, help="every message of this run")(
            click.option("--by", help="who does it (default: $HOTLINE_OPERATOR or the login name)")(_command))))


@outbox.command("retry")
@click.option("--by", help="who does it (default: $HOTLINE_OPERATOR or the login name)")
def outbox_retry(by):
    """Put failed messages back to pending and deliver them."""
    from .db import init_db, session_factory, session_scope
    from .mail import deliver, retry_failed

    init_db()
    with session_scope() as s:
        n = retry_failed(s, _operator(by))
    settings = load_settings()
    report = deliver(session_factory(), settings.smtp, settings.outbox_dir)
    click.echo(f"{n} failed message(s) retried: sent {report.sent}, written {report.written}, "
               f"deferred {report.deferred}, failed {report.failed}")


# -- demo, replay, doctor -------------------------------------------------------------------------
def _demo_folder() -> Path:
    """Where a demo goes by default: beside the service's own files in HOTLINE_VAR (the image's
    non-root user can write nowhere else), or ./out in a checkout."""

    var = os.environ.get("HOTLINE_VAR")
    folder = Path(var) / "demo" if var else Path.cwd() / "out"
    if not os.access(folder.parent, os.W_OK):
        fail(f"{folder.parent} is not writable: pass --out FOLDER or set HOTLINE_VAR", 2)
    return folder


@main.command()
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="the demo's folder (default: $HOTLINE_VAR/demo when HOTLINE_VAR is set, else ./out)")
@click.option("--weeks", default=8, show_default=True, help="weeks of schedules to replay")
@click.option("--until", "until", default="2026-11-16", show_default=True,
              help="replay up to this date (the default span crosses 国庆 2026)")
@click.option("--per-day", default=35, show_default=True, help="tickets received per day")
@click.option("--seed", default=12345, show_default=True)
@click.option("--eml", type=click.Choice(["sample", "all", "none"]), default="sample", show_default=True,
              help="messages written as .eml files: the first of each kind, every one (about 150 KB each), or none; "
                   "the others stay queued in the demo's outbox")
def demo(out, weeks, until, per_day, seed, eml):
    """Build the synthetic district and replay the shipped schedules over it (SQLite, inline, .eml)."""
    from . import demo as the_demo

    options = the_demo.Options(out_dir=Path(out).resolve() if out else _demo_folder(), weeks=weeks,
                               until=date.fromisoformat(until), per_day=per_day, seed=seed, eml=eml)
    sys.exit(the_demo.run(options))


@main.command()
@click.option("--from", "start", required=True, help="first day of the span")
@click.option("--to", "end", required=True, help="last day of the span")
@click.option("--out", "out", default="out/replay", show_default=True, type=click.Path(file_okay=False))
@click.option("--schedules", "schedules_file", type=click.Path(dir_okay=False), help="a schedules file to preview")
@click.option("--compare", is_flag=True, help="also replay the current schedules and show what differs")
@click.option("--send", is_flag=True, help="keep the results and deliver the messages (default: preview only)")
def replay(start, end, out, schedules_file, compare, send):
    """Run the schedules as they would have fired over a past span, on the real data."""
    from datetime import timedelta

    from . import tasks  # noqa: F401
    from .db import init_db, session_factory
    from .mail import deliver
    from .replay import print_report
    init_db()
    settings = load_settings()
    out_dir = Path(out).resolve()
    begin = datetime.combine(date.fromisoformat(start), datetime.min.time())
    finish = datetime.combine(date.fromisoformat(end), datetime.min.time()) + timedelta(days=1)
    if send and compare:
        fail("--compare is a preview: leave out --send", 2)
    result = _replay_once(_schedules(schedules_file), begin, finish, out_dir, settings, keep=send)
    if send:
        report = deliver(session_factory(), settings.smtp, settings.outbox_dir)
        click.echo(f"kept; messages sent {report.sent}, written {report.written}, deferred {report.deferred}")
    else:
        click.echo(f"preview only (nothing kept, nothing sent): {len(result.documents)} documents and "
                   f"{sum(result.messages.values())} messages in {out_dir}")
    print_report(result)
    if compare:
        current = _replay_once(_schedules(None), begin, finish, out_dir / "current", settings, keep=False)
        click.echo(f"compared with the current schedules ({settings.schedules_file}):")
        _comparison(result, current)


def _replay_once(config, begin, finish, out_dir: Path, settings, keep: bool):
    """One replay in its own session: committed when ``keep``, else rolled back with its messages
    written as .eml files under ``out_dir/outbox``."""
    from tqdm import tqdm

    from .db import session_factory
    from .replay import plan, with_var, write_eml
    from .replay import replay as do_replay

    target = settings if keep else with_var(settings, out_dir)
    s = session_factory()()
    try:
        with tqdm(total=len(plan(config, begin, finish)), desc="replay", unit=" slots",
                  disable=not sys.stderr.isatty()) as bar:
            result = do_replay(s, config, begin, finish, target, prefix="" if keep else "replay:", progress=bar.update)
        if keep:
            s.commit()
        else:
            write_eml(s, out_dir / "outbox", settings.smtp["sender"], settings.smtp["sender_name"], result.run_ids,
                      result.first_message)
            s.rollback()
    finally:
        s.close()
    return result


def _comparison(new, current) -> None:
    """What the previewed schedules produce beside the current ones: runs, documents, messages, tiers."""
    rows = [("documents", len(current.documents), len(new.documents))]
    rows += [(f"runs of {j}", current.runs.get(j, 0), new.runs.get(j, 0)) for j in sorted(set(current.runs) | set(new.runs))]
    rows += [(f"messages to {r}", current.messages.get(r, 0), new.messages.get(r, 0))
             for r in sorted(set(current.messages) | set(new.messages))]
    rows += [(f"escalations {t}", current.escalations.get(t, 0), new.escalations.get(t, 0))
             for t in sorted(set(current.escalations) | set(new.escalations))]
    click.echo(f"  {'':<34} {'current':>8} {'preview':>8}")
    for label, a, b in rows:
        click.echo(f"  {label:<34} {a:>8} {b:>8}{'' if a == b else f'  ({b - a:+d})'}")


@main.group()
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
    from .db import init_db, session_scope
    from .documents import unit_names
    from .supervision import ANSWER_STATES, closeout_lines, ledger

    init_db()
    states = {"open": "open", "overdue": "OVERDUE", "closed": "closed"}
    stages = {"reply": "答复超期", "completion": "办结超期", "unresolved": "回访未解决"}
    with session_scope() as s:
        names = unit_names(s)
        entries = [e for e in ledger(s, _moment(at), unit) if not only_open or e.state != "closed"]
        for e in entries:
            state = (f"closed {e.closed_at:%Y-%m-%d %H:%M}{' in time' if e.in_time else ' late'}" if e.closed_at
                     else states[e.state])
            answer = f"  [{ANSWER_STATES[e.answer]} {e.steps[-1].at:%Y-%m-%d %H:%M}]" if e.steps else ""
            click.echo(f"{e.number:<18} {names.get(e.unit_code, e.unit_code):<16} {stages[e.stage]} letter {e.day} "
                       f"due {e.deadline or '—'}  {state}{answer}")
        summary = {k: sum(1 for e in entries if e.state == k) for k in states}
        click.echo(f"{len(entries)} ticket(s): {summary['open']} open, {summary['overdue']} overdue on the letter, "
                   f"{summary['closed']} closed (the ticket handled)")
        for line in closeout_lines(entries, names, steps):
            click.echo(line)


@main.group()
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
    from .db import init_db, session_scope
    from .documents import unit_names
    from .ladder import describe, ladder_at, ledger_rows

    init_db()
    moment = _moment(at)
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


@main.group()
def documents():
    """The documents archive."""


@documents.command("list")
@click.option("--kind", help="only this kind (daily_sheet, weekly_bulletin, supervision_letter…)")
@click.option("--key", help="only keys containing this text (a period, a unit code)")
@click.option("--limit", default=50, show_default=True)
def documents_list(kind, key, limit):
    """Every document with its versions: number, date, SHA-256 and file."""
    from sqlalchemy import select

    from .db import init_db, session_scope
    from .documents import document_label
    from .models import Document, DocumentVersion

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

    from .db import init_db, session_scope
    from .models import Document, DocumentVersion

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

    from .db import init_db, session_scope
    from .models import Document

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



@main.command()
@click.option("--today", help="check calendar coverage from this date (default: today)")
def doctor(today):
    """Check the database, Redis, SMTP, CJK fonts, calendar, schedules and directory; say what to do."""
    from datetime import timedelta

    from .calendar import load_calendar
    from .fonts import FontMissing, find_system_font
    from .schedules import ScheduleError, load

    settings = load_settings()
    problems = 0

    def report(ok: bool | None, what: str, detail: str, todo: str = ""):
        nonlocal problems
        mark = {True: "ok  ", False: "FAIL", None: "note"}[ok]
        click.echo(f"[{mark}] {what}: {detail}")
        if not ok and todo:
            click.echo(f"       → {todo}")
        problems += ok is False

    try:
        from sqlalchemy import text

        from .db import get_engine, init_db
        init_db()
        with get_engine().connect() as conn:
            conn.execute(text("select 1"))
        report(True, "database", settings.database_url.split("@")[-1])
        db_ok = True
    except Exception as exc:  # noqa: BLE001
        report(False, "database", f"{type(exc).__name__}: {exc}".splitlines()[0],
               "check DATABASE_URL and that the server is running")
        db_ok = False
    if settings.redis_url:
        try:
            import redis
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
            report(True, "redis", settings.redis_url)
        except Exception as exc:  # noqa: BLE001
            report(False, "redis", str(exc), "start Redis or fix REDIS_URL (workers and the scheduler need it)")
    else:
        report(None, "redis", "REDIS_URL not set: embedded mode, jobs run in-process (hotline run JOB --inline)")
    if settings.smtp.get("host"):
        try:
            from .mail import connect
            connect(settings.smtp).close()
            report(True, "smtp", f"{settings.smtp['host']}:{settings.smtp['port']}")
        except Exception as exc:  # noqa: BLE001
            report(False, "smtp", str(exc), "check SMTP_HOST, SMTP_PORT, SMTP_SECURITY, SMTP_USER/SMTP_PASSWORD")
    else:
        report(None, "smtp", f"SMTP_HOST not set: messages are written as .eml files to {settings.outbox_dir}")
    from .fonts import role_faces
    for (family, weight), roles in _by_face(role_faces()).items():
        try:
            path, _ = find_system_font(family, weight)
            report(True, f"CJK font {family} {weight} ({', '.join(roles)})", str(path))
        except FontMissing as exc:
            report(False, f"CJK font {family} {weight} ({', '.join(roles)})", str(exc),
                   "apt-get install fonts-noto-cjk fonts-arphic-ukai, or map the role to an installed face in "
                   "config/documents.yaml (fonts:); documents would otherwise show empty boxes")
    try:
        cal = load_calendar(strict=True)
        start = date.fromisoformat(today) if today else date.today()
        missing = sorted({(start + timedelta(days=d)).year for d in range(61)} - {c.year for c in cal.coverage()})
        if missing:
            report(False, "calendar", f"no holiday data for {', '.join(map(str, missing))} within the next 60 days",
                   f"add the State Council's notice under 'years:' in {cal.calendar_file}, then run hotline recompute")
        else:
            report(True, "calendar", f"covered through {cal.coverage()[-1].year}")
    except ConfigError as exc:
        report(False, "calendar", str(exc), "fix calendar.yaml")
    from .policy_schema import MODELS, check
    for name in MODELS:
        path = settings.config_dir / f"{name}.yaml"
        try:
            check(name, path)
            report(True, f"policy {name}.yaml", str(path))
        except ConfigError as exc:
            report(False, f"policy {name}.yaml", f"{len(str(exc).splitlines())} problem(s)", "fix the file (line below)")
            for line in str(exc).splitlines():
                click.echo(f"       {line}")
    try:
        cfg = load(settings.schedules_file)
        report(True, "schedules", f"{len(cfg.schedules)} schedules in {settings.schedules_file}")
    except ScheduleError as exc:
        report(False, "schedules", f"{len(exc.problems)} problem(s)", "run hotline schedules validate")
        for p in exc.problems:
            click.echo(f"       {p}")
    from .web.app import secret_problem
    if os.environ.get("HOTLINE_WEB_SECRET"):
        problem = secret_problem(os.environ["HOTLINE_WEB_SECRET"])
        report(problem is None, "console signing key", problem or "HOTLINE_WEB_SECRET set",
               "set HOTLINE_WEB_SECRET to python3 -c 'import secrets; print(secrets.token_urlsafe(48))', "
               "or unset it (the console then keeps its own key)")
    else:
        report(None, "console signing key", "HOTLINE_WEB_SECRET not set: the console keeps its own key in "
               f"{settings.var_dir / 'web-secret'}")
    if db_ok:
        from .db import session_scope
        from .recipients import directory_gaps
        with session_scope() as s:
            gaps = directory_gaps(s)
        if gaps:
            report(False, "directory", f"{len(gaps)} gap(s)", "complete the directory file and run hotline directory load")
            for g in gaps[:30]:
                click.echo(f"       {g}")
        else:
            report(True, "directory", "every unit has a head with an e-mail address and a leader in charge")
        for ok, what, detail, todo in _operations(settings):
            report(ok, what, detail, todo)
    sys.exit(1 if problems else 0)


def _by_face(roles: dict) -> dict:
    out: dict = {}
    for role, face in roles.items():
        out.setdefault(face, []).append(role)
    return out


def _operations(settings) -> list[tuple[bool | None, str, str, str]]:
    """Live workers, queue lag, the scheduler's lease and last tick, the outbox, recent failures."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from .alerts import settings as alert_settings
    from .db import session_scope
    from .models import OutboxMessage, Run
    from .times import now_local

    out = []
    cfg, now = alert_settings(), now_local()
    namespace = os.environ.get("HOTLINE_REDIS_NAMESPACE", "hotline")
    with session_scope() as s:
        queued = s.execute(select(func.count(), func.min(Run.created_at)).where(Run.state == "queued")).one()
        by_state = dict(s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
        oldest = s.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state.in_(("pending", "sending"))))
        failed = s.execute(select(Run.id, Run.job, Run.period_key, Run.error).where(
            Run.state == "failed", Run.finished_at >= now - timedelta(days=1)).order_by(Run.id.desc())).all()
    if settings.redis_url:
        try:
            import redis

            from .broker import live_workers
            workers = live_workers(settings.redis_url, namespace)
            out.append((bool(workers), "workers", f"{len(workers)} live: {', '.join(workers[:5]) or 'none'}",
                        "start workers: hotline worker (queued runs wait until one runs)"))
            client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
            holder = client.get(f"{namespace}:scheduler:leader")
            tick = client.get(f"{namespace}:scheduler:last_tick")
            age = (now - datetime.fromisoformat(tick.decode().split("|")[0])).total_seconds() if tick else None
            token, _, version = holder.decode().partition("|") if holder else ("nobody", "", "")
            out.append((age is not None and age < 120, "scheduler",
                        (f"lease held by {token}{f' (schedules {version})' if version else ''}; last tick "
                        f"{'never (or over 2 minutes ago)' if age is None else f'{age:.0f} s ago'}"),
                        "start the scheduler: hotline scheduler"))
        except Exception as exc:  # noqa: BLE001 — Redis is reported above
            out.append((False, "workers", f"cannot read Redis: {exc}", "fix REDIS_URL"))
    lag = (now - queued[1]).total_seconds() / 60 if queued[0] else 0
    out.append((lag < int(cfg.get("queued_minutes", 15)), "queue",
                f"{queued[0]} run(s) queued" + (f", the oldest for {lag:.0f} min" if queued[0] else ""),
                "no worker takes the runs: check the workers and Redis"))
    backlog = (now - oldest).total_seconds() / 60 if oldest else 0
    states = ", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "empty"
    out.append((backlog < int(cfg.get("outbox_backlog_minutes", 30)) and not by_state.get("failed"), "outbox",
                states + (f"; the oldest waiting for {backlog:.0f} min" if oldest else ""),
                "hotline outbox shows the server's replies; hotline outbox retry after fixing the cause"))
    out.append((not failed, "runs", f"{len(failed)} failed in the last day" + "".join(
        f"\n       {r.id} {r.job} {r.period_key}: {(r.error or '').strip().splitlines()[0][:120] if r.error else ''}"
        for r in failed[:5]), "hotline runs --failed"))
    return out


if __name__ == "__main__":
    main()
