"""``hotline scheduler``: turns ``schedules.yaml`` into runs, once per slot, on one active replica.

Guards, from the inside out:
- the run ledger's unique key (schedule, nominal time) — a slot can be inserted once, whatever
  the number of replicas or restarts; only the inserter enqueues the message;
- a Redis lease (``SET key token NX PX``, renewed by compare-and-expire) keeps one replica active;
  a replica that dies or stalls loses the lease within ``lease_seconds`` and another takes over;
- after downtime, missed slots follow each schedule's misfire policy (skip / run_once /
  catch_up within the grace window); what is not run is recorded as ``skipped``;
- every tick also sweeps the ledger: runs past their time limit become ``failed``, runs whose worker
  vanished are queued again, queued runs whose message was lost are enqueued again.
The file is reloaded when it changes; an invalid edit is logged, recorded as a failed ``config``
run (``hotline runs``), and the last valid configuration keeps running.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from . import runs
from .calendar import load_calendar
from .db import session_factory
from .jobs import JOBS, resolve_period
from .models import Run
from .schedules import ScheduleError, ScheduleFile, Slot, load, slots
from .times import now_local

log = logging.getLogger("hotline.scheduler")
# A queued run with no progress for this long has lost its message (an enqueuer died): send it again.
REQUEUE_AFTER = timedelta(seconds=float(os.environ.get("HOTLINE_REQUEUE_AFTER", "300")))

RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"""
RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"""


class Lease:
    """One active replica, by a Redis key holding the owner's token."""

    def __init__(self, redis_url: str, key: str, seconds: float, token: str | None = None):
        import redis

        self.client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.key, self.ms = key, int(seconds * 1000)
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = self.client.register_script(RENEW)
        self._release = self.client.register_script(RELEASE)

    def hold(self) -> bool:
        """Acquire or renew; False if another replica holds it or Redis is unreachable."""
        import redis

        try:
            if self._renew(keys=[self.key], args=[self.token, self.ms]):
                return True
            return bool(self.client.set(self.key, self.token, nx=True, px=self.ms))
        except redis.RedisError as exc:
            log.warning("lease: Redis unavailable (%s); standing by", exc)
            return False

    def release(self) -> None:
        import redis

        try:
            self._release(keys=[self.key], args=[self.token])
        except redis.RedisError:
            pass


class Scheduler:
    def __init__(self, schedules_path: Path, *, redis_url: str | None, enqueue: Callable[[Run], None],
                 lease_seconds: float = 15, tick_seconds: float = 5, tolerance: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] = now_local, lease_key: str = "hotline:scheduler:leader",
                 database_url: str | None = None):
        self.path = Path(schedules_path)
        self.enqueue, self.clock, self.tick_seconds, self.tolerance = enqueue, clock, tick_seconds, tolerance
        self.factory = session_factory(database_url)
        self.lease = Lease(redis_url, lease_key, lease_seconds) if redis_url else None
        self.config: ScheduleFile | None = None
        self._mtime: float | None = None
        self._bad_digest: str | None = None
        self.checked_until: dict[str, datetime] = {}
        self.waiting_from: dict[str, datetime] = {}
        self.stop_event = threading.Event()

    # -- configuration ----------------------------------------------------------------------
    def reload_if_changed(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime == self._mtime and self.config is not None:
            return
        self._mtime = mtime
        try:
            config = load(self.path)
        except ScheduleError as exc:
            import hashlib
            digest = hashlib.sha256("\n".join(exc.problems).encode()).hexdigest()
            if digest != self._bad_digest:
                self._bad_digest = digest
                log.error("schedules: invalid edit, keeping the last valid configuration:\n%s", exc)
                with self.factory() as s:
                    runs.create(s, schedule="scheduler:config", nominal_at=self.clock(), job="config",
                                period_key="-", params={"file": str(self.path)})
                    row = s.scalars(select(Run).where(Run.schedule == "scheduler:config")
                                    .order_by(Run.id.desc())).first()
                    if row is not None:
                        row.state, row.error, row.finished_at = "failed", str(exc), self.clock()
                    s.commit()
            if self.config is None:
                raise
            return
        if self.config is None or config.digest != self.config.digest:
            log.info("schedules: loaded %d schedules from %s", len(config.schedules), self.path)
        self.config, self._bad_digest = config, None

    # -- one pass ----------------------------------------------------------------------------
    def due_slots(self, now: datetime) -> list[tuple[Slot, str]]:
        """(slot, decision) for every slot up to ``now`` not yet in the ledger: fire | skipped: why."""
        cal = load_calendar()
        out = []
        with self.factory() as s:
            for sched in self.config.schedules:
                if not sched.enabled:
                    continue
                if sched.name not in self.checked_until:
                    # Resume after the last slot the ledger knows; a schedule never run starts now.
                    last = s.scalar(select(func.max(Run.nominal_at)).where(Run.schedule == sched.name))
                    self.checked_until[sched.name] = last or now
                window = max(timedelta(minutes=sched.grace_minutes), self.tolerance)
                start = max(self.checked_until[sched.name], now - window)
                if sched.name in self.waiting_from:   # a slot moved to a later working day, not fired yet
                    start = min(start, self.waiting_from[sched.name])
                candidates = slots(sched, self.config.timezone, cal, start, now)
                if not candidates:
                    continue
                known = set(s.scalars(select(Run.nominal_at).where(
                    Run.schedule == sched.name, Run.nominal_at >= candidates[0].nominal_at)))
                pending = [c for c in candidates if c.nominal_at not in known]
                waiting = [c for c in pending if c.effective_at is not None and c.effective_at > now]
                ready = [c for c in pending if c.effective_at is not None and c.effective_at <= now]
                for c in pending:
                    if c.effective_at is None and not c.note.startswith("not the first"):
                        out.append((c, f"skipped: {c.note}"))
                missed = [c for c in ready if now - c.effective_at > self.tolerance]
                on_time = [c for c in ready if now - c.effective_at <= self.tolerance]
                grace = timedelta(minutes=sched.grace_minutes)
                if sched.misfire == "skip":
                    out += [(c, "skipped: missed while the scheduler was down (misfire: skip)") for c in missed]
                elif sched.misfire == "run_once":
                    late = [c for c in missed if now - c.effective_at <= grace]
                    keep = late[-1:] if not on_time else []
                    out += [(c, "fire" if c in keep else "skipped: missed (misfire: run_once ran the latest)")
                            for c in missed]
                else:
                    out += [(c, "fire" if now - c.effective_at <= grace else "skipped: missed beyond the grace window")
                            for c in missed]
                out += [(c, "fire") for c in on_time]
                self.checked_until[sched.name] = now
                if waiting:
                    self.waiting_from[sched.name] = waiting[0].nominal_at - timedelta(seconds=1)
                else:
                    self.waiting_from.pop(sched.name, None)
        return out

    def fire(self, slot: Slot, decision: str) -> Run | None:
        spec = JOBS[slot.schedule.actor]
        anchor = slot.nominal_at if spec.period_kind not in ("day", "none") else slot.effective_at or slot.nominal_at
        period, as_of = resolve_period(spec.period_kind, anchor, slot.schedule.period)
        params = dict(slot.schedule.params, as_of=as_of.isoformat(sep=" "),
                      fired_at=(slot.effective_at or slot.nominal_at).isoformat(sep=" "))
        if slot.schedule.recipients:
            params["recipients"] = slot.schedule.recipients
        with self.factory() as s:
            run = runs.create(s, schedule=slot.schedule.name, nominal_at=slot.nominal_at, job=slot.schedule.actor,
                              period_key=period.key if period else "-", params=params)
            if run is None:
                return None  # another replica (or an earlier life of this one) has the slot
            if decision != "fire":
                run.state, run.error, run.finished_at = "skipped", decision.removeprefix("skipped: "), self.clock()
            s.commit()
            s.refresh(run)
        if decision == "fire":
            self.enqueue(run)
        return run

    def tick(self) -> list[Run]:
        self.reload_if_changed()
        now = self.clock()
        fired = [r for slot, decision in self.due_slots(now) if (r := self.fire(slot, decision)) is not None]
        self.sweep()
        return fired

    def sweep(self) -> None:
        limit = max((j.time_limit for j in JOBS.values()), default=timedelta(minutes=10))
        with self.factory() as s:
            result = runs.sweep(s, limit)
            stale_queued = s.scalars(select(Run).where(Run.state == "queued",
                                                       Run.created_at < self.clock() - REQUEUE_AFTER)).all()
            for run in [r for r in stale_queued if r.attempts >= 5]:   # retried enough: give up loudly
                run.state, run.finished_at = "failed", self.clock()
                run.error = f"gave up after {run.attempts} attempts: {run.error or ''}"
            s.commit()
            stale_queued = [r for r in stale_queued if r.state == "queued"]
            requeue = [s.get(Run, i) for i in result["requeued"]] + list(stale_queued)
        for run in requeue:
            if run is not None:
                log.warning("run %s (%s) re-enqueued", run.id, run.job, extra={"run_id": run.id})
                self.enqueue(run)

    # -- the process -------------------------------------------------------------------------
    def run_forever(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.reload_if_changed()
        active = False
        while not self.stop_event.is_set():
            holds = self.lease.hold() if self.lease else True
            if holds != active:
                log.info("scheduler: %s", "active" if holds else "standing by")
                active = holds
            if holds:
                try:
                    self.tick()
                except Exception:  # a bad tick must not end the process; the next one retries
                    log.exception("scheduler tick failed")
            self.stop_event.wait(self.tick_seconds)
        if self.lease:
            self.lease.release()
        log.info("scheduler: stopped")
