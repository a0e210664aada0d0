"""``hotline doctor``: every dependency checked, with what to do."""
from __future__ import annotations

import os
import sys
from datetime import date, datetime

import click

from ..config import ConfigError, load_settings


@click.command()
@click.option("--today", help="check calendar coverage from this date (default: today)")
def doctor(today):
    """Check the database, Redis, SMTP, CJK fonts, calendar, schedules and directory; say what to do."""
    from datetime import timedelta

    from ..calendar import load_calendar
    from ..fonts import FontMissing, find_system_font
    from ..schedules import ScheduleError, load

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

        from ..db import get_engine, init_db
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
            from ..mail import connect
            connect(settings.smtp).close()
            report(True, "smtp", f"{settings.smtp['host']}:{settings.smtp['port']}")
        except Exception as exc:  # noqa: BLE001
            report(False, "smtp", str(exc), "check SMTP_HOST, SMTP_PORT, SMTP_SECURITY, SMTP_USER/SMTP_PASSWORD")
    else:
        report(None, "smtp", f"SMTP_HOST not set: messages are written as .eml files to {settings.outbox_dir}")
    from ..fonts import role_faces
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
    from ..policy_schema import MODELS, check
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
    from ..web.app import secret_problem
    if os.environ.get("HOTLINE_WEB_SECRET"):
        problem = secret_problem(os.environ["HOTLINE_WEB_SECRET"])
        report(problem is None, "console signing key", problem or "HOTLINE_WEB_SECRET set",
               "set HOTLINE_WEB_SECRET to python3 -c 'import secrets; print(secrets.token_urlsafe(48))', "
               "or unset it (the console then keeps its own key)")
    else:
        report(None, "console signing key", "HOTLINE_WEB_SECRET not set: the console keeps its own key in "
               f"{settings.var_dir / 'web-secret'}")
    if db_ok:
        from ..db import session_scope
        from ..recipients import directory_gaps
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

    from ..alerts import settings as alert_settings
    from ..db import session_scope
    from ..models import OutboxMessage, Run
    from ..times import now_local

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

            from ..broker import live_workers
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


COMMANDS = [doctor]
