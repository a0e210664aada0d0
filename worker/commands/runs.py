"""Commands that run jobs and the long-running processes: ``run``, ``runs``, ``scheduler``,
``worker``, ``health``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from sqlalchemy import select

from .common import at_moment, current_settings, fail


@click.command("run")
@click.argument("job_name", metavar="JOB")
@click.option("--at", "at", help="a moment inside the (finished) period to run for; default: the last complete "
                                 "period (a daily job: now)")
@click.option("--inline", is_flag=True, help="execute in this process (no Redis needed)")
@click.option("--dry-run", is_flag=True, help="preview: documents and .eml messages in a preview folder; nothing is "
                                             "kept or queued for sending")
@click.option("--out", "out", type=click.Path(file_okay=False), help="the preview folder (--dry-run)")
def run_cmd(job_name, at, inline, dry_run, out):
    """Run one job now for the period containing AT, or the last complete period."""
    from ..db import init_db, session_scope
    from ..dispatch import run_here, send
    from ..jobs import PeriodNotEnded, manual_run, preview

    init_db()
    moment = at_moment(at) if at else None
    if dry_run:
        folder = Path(out or current_settings().var_dir / "preview").resolve()
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
    inline = inline or not current_settings().redis_url
    with session_scope() as s:
        try:
            run = manual_run(s, job_name, moment)
        except KeyError as exc:
            fail(str(exc.args[0]), 2)
        except PeriodNotEnded as exc:
            fail(str(exc), 2)
        run_id, period = run.id, run.period_key
    if not inline:
        send(job_name, run_id)
        click.echo(f"run {run_id}: {job_name} {period} queued")
        return
    try:
        state = run_here(run_id)
    except Exception as exc:  # noqa: BLE001 — the ledger has the traceback; the operator gets one line
        fail(f"run {run_id}: {job_name} {period} failed: {exc}")
    _print_run(run_id, state)


def _print_run(run_id: int, state: str, indent: str = "") -> None:
    """The run's outcome, its documents and messages, then its parts' (supervision's letters), each
    as the ledger has it."""
    from ..db import session_scope
    from ..models import Run

    with session_scope() as s:
        run = s.get_one(Run, run_id)
        parts = s.execute(select(Run.id, Run.state).where(Run.id.in_((run.summary or {}).get("parts", [])))
                          .order_by(Run.id)).all()
        click.echo(f"{indent}run {run.id}: {run.job} {run.period_key}"
                   f"{' ' + run.params['unit'] if run.params.get('unit') else ''} {state}")
        if run.error and indent:
            click.echo(f"{indent}  error: {run.error.strip().splitlines()[0][:200]}")
        for d in (run.summary or {}).get("documents", []):
            click.echo(f"{indent}  document: {d['path']}")
        if (run.summary or {}).get("messages"):
            click.echo(f"{indent}  messages queued: {run.summary['messages']}")
        for m in (run.summary or {}).get("missing_recipients", []):
            click.echo(f"{indent}  warning: {m}")
        for f in (run.summary or {}).get("files", []):      # the inbox's
            click.echo(f"{indent}  file: {f['file']} → {f['outcome']}")
        for w in (run.summary or {}).get("waiting", []):
            click.echo(f"{indent}  left in the inbox: {w}")
    for part_id, part_state in parts:
        _print_run(part_id, part_state, indent + "  ")


@click.command("runs")
@click.option("--failed", is_flag=True, help="only failed runs")
@click.option("--job", help="only this job")
@click.option("--limit", default=30, show_default=True)
def runs_cmd(failed, job, limit):
    """List the run ledger, newest first, with the documents each run produced, the process that ran
    each (host:pid) and, for a part (one 督办函 of a supervision run), the run it is a part of."""
    from ..db import init_db, session_scope
    from ..models import Document, Run, RunState

    init_db()
    with session_scope() as s:
        q = select(Run).order_by(Run.id.desc()).limit(limit)
        if failed:
            q = q.where(Run.state == RunState.FAILED.value)
        if job:
            q = q.where(Run.job == job)
        rows = s.scalars(q).all()
        docs: dict[int | None, list[Document]] = {}
        for d in s.scalars(select(Document).where(Document.run_id.in_([r.id for r in rows]))):
            docs.setdefault(d.run_id, []).append(d)
        for r in rows:
            took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at and r.started_at else ""
            part_of = f" part of run {r.params['part_of']}" if (r.params or {}).get("part_of") else ""
            click.echo(f"{r.id:>6} {r.state:<9} {r.job:<18} {r.period_key:<10} {r.schedule:<24} "
                       f"{r.nominal_at:%Y-%m-%d %H:%M} {took}{part_of}{' on ' + r.worker if r.worker else ''}")
            if r.error:
                click.echo("         " + r.error.strip().splitlines()[0][:200])
                for line in r.error.strip().splitlines()[1:6]:
                    if r.job == "config":
                        click.echo("         " + line[:200])
            for d in docs.get(r.id, []):
                click.echo(f"         {d.kind}: {d.path} sha256:{d.sha256[:12]}")


@click.command()
@click.option("--inline", is_flag=True, help="execute jobs in this process instead of enqueueing them")
@click.option("--tick", default=5.0, show_default=True, help="seconds between passes")
@click.option("--lease", default=15.0, show_default=True, help="seconds a replica holds the Redis lease")
@click.option("--metrics-port", type=int, help="serve the hotline_* Prometheus series on this port")
@click.option("--metrics-addr", default="127.0.0.1", show_default=True, help="the address to serve them on")
def scheduler(inline, tick, lease, metrics_port, metrics_addr):
    """The long-running scheduler (several replicas may run; one is active)."""
    from .. import logs
    from ..db import init_db
    from ..dispatch import enqueuer
    from ..scheduler import Scheduler
    from ..schedules import ScheduleError

    logs.setup()
    init_db()
    settings = current_settings()
    if not settings.redis_url and not inline:
        fail("REDIS_URL is not set: start Redis and set REDIS_URL, or use --inline (single process)", 2)
    try:
        sched = Scheduler(settings.schedules_file, redis_url=settings.redis_url, enqueue=enqueuer(inline),
                          tick_seconds=tick, lease_seconds=lease)
        if metrics_port:
            from ..db import session_factory
            from ..monitoring import serve
            serve(session_factory(), metrics_port, metrics_addr, lambda: sched.last_tick_monotonic)
        sched.run_forever()
    except ScheduleError as exc:
        fail(f"schedules.yaml is invalid and there is no earlier valid version:\n{exc}", 2)


@click.command()
@click.option("--processes", default=1, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--metrics", is_flag=True, help="expose Prometheus metrics (port $dramatiq_prom_port, default 9191)")
@click.option("--dead", is_flag=True, help="list dead-lettered messages and exit")
def worker(processes, threads, metrics, dead):
    """A Dramatiq worker for every job family (needs REDIS_URL, or an amqp:// URL)."""
    settings = current_settings()
    if not settings.redis_url:
        fail("REDIS_URL is not set: a worker needs the broker (use `hotline run JOB --inline` without one)", 2)
    if dead:
        import redis

        from ..redis_keys import decoded
        client = redis.Redis.from_url(settings.redis_url)
        for key in sorted(client.scan_iter(settings.redis_keys.dead_letters)):
            for mid, _ in client.zscan_iter(key):
                click.echo(f"{decoded(key)} {decoded(mid)}")
        return
    from ..db import init_db
    init_db()
    if metrics:
        os.environ["HOTLINE_PROMETHEUS"] = "1"
    os.environ["HOTLINE_WORKER_LOGS"] = "1"  # the worker processes log in HOTLINE_LOG_FORMAT, Dramatiq's lines too
    from dramatiq.cli import main as dramatiq_main
    sys.argv = ["hotline-worker", "worker.tasks", "--processes", str(processes), "--threads", str(threads)]
    sys.exit(dramatiq_main())


@click.command()
@click.argument("role", type=click.Choice(["scheduler", "worker"]))
def health(role):
    """Exit 0 if a ROLE process on this host is alive (a container's healthcheck).

    A scheduler replica (active or standing by) says so in Redis after every pass; a worker process
    while its consumer and worker threads all run.  Both keys expire within 30 s of the last word."""
    import redis

    from ..health import live

    settings = current_settings()
    if not settings.redis_url:
        fail("REDIS_URL is not set: the health of the scheduler and workers is kept in Redis", 2)
    try:
        found = live(role, settings)
    except redis.RedisError as exc:
        fail(f"unhealthy: Redis unreachable ({exc})", 1)
    if not found:
        fail(f"unhealthy: no live {role} on {settings.instance} in the last 30 s", 1)
    click.echo(f"healthy: {', '.join(found)}")


COMMANDS = [run_cmd, runs_cmd, scheduler, worker, health]
