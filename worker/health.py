"""Is this installation fit to run?  ``hotline doctor`` (every dependency, with what to do) and
``hotline health ROLE`` (a container's healthcheck).

The checks return findings; printing them is the command's business (``worker/commands/doctor.py``),
so a check can be read, tested and reused without a terminal."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .config import ConfigError, Settings
from .redis_keys import decoded


@dataclass
class Finding:
    ok: bool | None          # None: a note, neither a pass nor a failure
    what: str
    detail: str
    todo: str = ""           # what to do when it fails
    lines: list[str] = field(default_factory=list)   # the problems, one a line, below the finding


def doctor(settings: Settings, today: date) -> Iterator[Finding]:
    """Every check in the order an operator fixes them: the database first (the directory and the
    operations checks need it), then Redis, SMTP, fonts, the policy files, the console's key."""
    db = _database(settings)
    yield db
    yield _redis(settings)
    yield _smtp(settings)
    yield from _fonts()
    yield _calendar(today)
    yield from _policies(settings)
    yield _schedules(settings)
    yield _console_key(settings)
    if db.ok:
        yield _directory()
        for ok, what, detail, todo in operations(settings):
            yield Finding(ok, what, detail, todo)


def _database(settings: Settings) -> Finding:
    try:
        from sqlalchemy import text

        from .db import get_engine, init_db
        init_db()
        with get_engine().connect() as conn:
            conn.execute(text("select 1"))
        return Finding(True, "database", settings.database_url.split("@")[-1])
    except Exception as exc:  # noqa: BLE001
        return Finding(False, "database", f"{type(exc).__name__}: {exc}".splitlines()[0],
                       "check DATABASE_URL and that the server is running")


def _redis(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding(None, "redis", "REDIS_URL not set: embedded mode, jobs run in-process (hotline run JOB --inline)")
    try:
        import redis
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
        return Finding(True, "redis", settings.redis_url)
    except Exception as exc:  # noqa: BLE001
        return Finding(False, "redis", str(exc), "start Redis or fix REDIS_URL (workers and the scheduler need it)")


def _smtp(settings: Settings) -> Finding:
    if not settings.smtp.get("host"):
        return Finding(None, "smtp", f"SMTP_HOST not set: messages are written as .eml files to {settings.outbox_dir}")
    try:
        from .delivery import connect
        connect(settings.smtp).close()
        return Finding(True, "smtp", f"{settings.smtp['host']}:{settings.smtp['port']}")
    except Exception as exc:  # noqa: BLE001
        return Finding(False, "smtp", str(exc), "check SMTP_HOST, SMTP_PORT, SMTP_SECURITY, SMTP_USER/SMTP_PASSWORD")


def _fonts() -> Iterator[Finding]:
    from .fonts import FontMissing, find_system_font, role_faces

    by_face: dict = {}
    for role, face in role_faces().items():
        by_face.setdefault(face, []).append(role)
    for (family, weight), roles in by_face.items():
        what = f"CJK font {family} {weight} ({', '.join(roles)})"
        try:
            path, _ = find_system_font(family, weight)
            yield Finding(True, what, str(path))
        except FontMissing as exc:
            yield Finding(False, what, str(exc),
                          "apt-get install fonts-noto-cjk fonts-arphic-ukai, or map the role to an installed face in "
                          "config/documents.yaml (fonts:); documents would otherwise show empty boxes")


def _calendar(today: date) -> Finding:
    from .calendar import load_calendar

    try:
        cal = load_calendar(strict=True)
    except ConfigError as exc:
        return Finding(False, "calendar", str(exc), "fix calendar.yaml")
    missing = sorted({(today + timedelta(days=d)).year for d in range(61)} - {c.year for c in cal.coverage()})
    if missing:
        return Finding(False, "calendar", f"no holiday data for {', '.join(map(str, missing))} within the next 60 days",
                       f"add the State Council's notice under 'years:' in {cal.calendar_file}, then run hotline recompute")
    return Finding(True, "calendar", f"covered through {cal.coverage()[-1].year}")


def _policies(settings: Settings) -> Iterator[Finding]:
    from .policy_schema import MODELS, check

    for name in MODELS:
        path = settings.config_dir / f"{name}.yaml"
        try:
            check(name, path)
            yield Finding(True, f"policy {name}.yaml", str(path))
        except ConfigError as exc:
            problems = str(exc).splitlines()
            yield Finding(False, f"policy {name}.yaml", f"{len(problems)} problem(s)", "fix the file (line below)",
                          problems)


def _schedules(settings: Settings) -> Finding:
    from .schedules import ScheduleError, load

    try:
        cfg = load(settings.schedules_file)
        return Finding(True, "schedules", f"{len(cfg.schedules)} schedules in {settings.schedules_file}")
    except ScheduleError as exc:
        return Finding(False, "schedules", f"{len(exc.problems)} problem(s)", "run hotline schedules validate",
                       list(exc.problems))


def _console_key(settings: Settings) -> Finding:
    from .web.app import secret_problem

    if not os.environ.get("HOTLINE_WEB_SECRET"):
        return Finding(None, "console signing key", "HOTLINE_WEB_SECRET not set: the console keeps its own key in "
                       f"{settings.var_dir / 'web-secret'}")
    problem = secret_problem(os.environ["HOTLINE_WEB_SECRET"])
    return Finding(problem is None, "console signing key", problem or "HOTLINE_WEB_SECRET set",
                   "set HOTLINE_WEB_SECRET to python3 -c 'import secrets; print(secrets.token_urlsafe(48))', "
                   "or unset it (the console then keeps its own key)")


def _directory() -> Finding:
    from .db import session_scope
    from .recipients import directory_gaps

    with session_scope() as s:
        gaps = directory_gaps(s)
    if gaps:
        return Finding(False, "directory", f"{len(gaps)} gap(s)", "complete the directory file and run hotline directory load",
                       list(gaps[:30]))
    return Finding(True, "directory", "every unit has a head with an e-mail address and a leader in charge")


def operations(settings: Settings) -> list[tuple[bool | None, str, str, str]]:
    """Live workers, queue lag, the scheduler's lease and last tick, the outbox, recent failures."""
    from sqlalchemy import func, select

    from .alerts import settings as alert_settings
    from .db import session_scope
    from .models import MessageState, OutboxMessage, Run, RunState
    from .times import now_local

    out: list[tuple[bool | None, str, str, str]] = []
    cfg, now = alert_settings(settings.config_dir), now_local()
    keys = settings.redis_keys
    with session_scope() as s:
        queued = s.execute(select(func.count(), func.min(Run.created_at)).where(Run.state == RunState.QUEUED.value)).one()
        by_state = dict(s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
        oldest = s.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state.in_((MessageState.PENDING.value, MessageState.SENDING.value))))
        failed = s.execute(select(Run.id, Run.job, Run.period_key, Run.error).where(
            Run.state == RunState.FAILED.value, Run.finished_at >= now - timedelta(days=1)).order_by(Run.id.desc())).all()
    if settings.redis_url:
        try:
            import redis

            from .broker import live_workers
            workers = live_workers(settings.redis_url, keys)
            out.append((bool(workers), "workers", f"{len(workers)} live: {', '.join(workers[:5]) or 'none'}",
                        "start workers: hotline worker (queued runs wait until one runs)"))
            client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
            holder = client.get(keys.lease)
            tick = client.get(keys.last_tick)
            age = (now - datetime.fromisoformat(decoded(tick).split("|")[0])).total_seconds() if tick else None
            token, _, version = decoded(holder).partition("|") if holder else ("nobody", "", "")
            out.append((age is not None and age < 120, "scheduler",
                        (f"lease held by {token}{f' (schedules {version})' if version else ''}; last tick "
                        f"{'never (or over 2 minutes ago)' if age is None else f'{age:.0f} s ago'}"),
                        "start the scheduler: hotline scheduler"))
        except Exception as exc:  # noqa: BLE001 — Redis is reported above
            out.append((False, "workers", f"cannot read Redis: {exc}", "fix REDIS_URL"))
    lag = (now - queued[1]).total_seconds() / 60 if queued[0] else 0
    out.append((lag < cfg.queued_minutes, "queue",
                f"{queued[0]} run(s) queued" + (f", the oldest for {lag:.0f} min" if queued[0] else ""),
                "no worker takes the runs: check the workers and Redis"))
    backlog = (now - oldest).total_seconds() / 60 if oldest else 0
    states = ", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "empty"
    out.append((backlog < cfg.outbox_backlog_minutes and not by_state.get(MessageState.FAILED.value), "outbox",
                states + (f"; the oldest waiting for {backlog:.0f} min" if oldest else ""),
                "hotline outbox shows the server's replies; hotline outbox retry after fixing the cause"))
    out.append((not failed, "runs", f"{len(failed)} failed in the last day" + "".join(
        f"\n       {r.id} {r.job} {r.period_key}: {(r.error or '').strip().splitlines()[0][:120] if r.error else ''}"
        for r in failed[:5]), "hotline runs --failed"))
    return out


def live(role: str, settings: Settings) -> list[str]:
    """The processes of ROLE on this host that said they are alive in the last 30 s (a scheduler
    replica after every pass, active or standing by; a worker while its consumer and threads all run).
    Raises ``redis.RedisError`` when Redis cannot be read."""
    import redis

    from .broker import live_workers

    host, keys, url = settings.instance, settings.redis_keys, settings.redis_url
    if not url:
        raise redis.ConnectionError("REDIS_URL is not set")
    if role == "scheduler":
        state = redis.Redis.from_url(url, socket_timeout=5).get(keys.alive("scheduler", host))
        return [f"{host} {decoded(state)}"] if state else []
    return [w for w in live_workers(url, keys) if w.startswith(f"{host}:")]
