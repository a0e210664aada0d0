"""``hotline scheduler``: turns ``schedules.yaml`` into runs, once per slot, on one active replica.

Guards, from the inside out:
- the run ledger's unique key (schedule, nominal time) — a slot can be inserted once, whatever
  the number of replicas or restarts; only the inserter enqueues the message;
- a Redis lease (``SET key token NX PX``, renewed by compare-and-expire) keeps one replica active;
  a replica that dies or stalls loses the lease within ``lease_seconds`` and another takes over;
- after downtime, missed slots follow each schedule's misfire policy (skip / run_once /
  catch_up within the grace window); what is not run is recorded as ``skipped`` with the reason,
  so every slot since the last one the ledger knows (up to ``MAX_LOOKBACK``) has its row;
- each schedule is handled on its own: an error in one (a cron that can never fire, a job that
  cannot be enqueued) is logged and recorded once, and the others go on; a schedule's marker
  advances only past the slots recorded in the ledger, so an error never loses a slot;
- every tick also sweeps the ledger: runs past their own job's time limit become ``failed``, runs
  whose worker vanished are queued again, and a queued run nobody took is enqueued again at most
  once per interval, the interval doubling each time (no re-queue storm while no worker runs).
``schedules.yaml`` and ``calendar.yaml`` are reloaded when they change; an invalid edit of either is
logged, recorded as a failed ``config`` run (``hotline runs``), and the last valid version keeps
running.  Each replica puts its schedules' version (the file's hash) in the lease; a standby that
finds the active replica running another version reports it (replicas with different files
would take turns firing their own).

Time: the tick does only bounded database work.  Alerts are enqueued (outbox rows, each in a
transaction of its own) and sent by a courier thread beside the tick and by the ``send_outbox``
job, never by the tick itself, so a slow relay cannot make slots late.  The wall clock is checked
against a clock that never steps (``elapsed_seconds``): after a step forward, slots are decided on
the elapsed time since the last tick the two agreed — no slot ahead of it is recorded as missed or
run early — until the wall clock comes back or the scheduler is restarted (a restart trusts the
wall clock, and the slots in between then follow their misfire policy).  A step back is logged;
the ledger keeps the slots already recorded from firing again.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from croniter import croniter
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import runs, tasks  # noqa: F401 — tasks: the jobs whose periods the slots report on (JOBS)
from .calendar import WorkCalendar, load_calendar
from .config import load_settings
from .db import session_factory
from .jobs import JOBS, resolve_period
from .models import Run, RunState
from .redis_keys import RedisKeys, decoded
from .schedules import ScheduleError, ScheduleFile, Slot, load, slots
from .times import TZ, now_local

log = logging.getLogger("hotline.scheduler")
# A queued run with no progress for this long has lost its message (an enqueuer died): send it again,
# then after twice as long, and so on (``runs.enqueues`` counts the sends).
REQUEUE_AFTER = timedelta(seconds=float(os.environ.get("HOTLINE_REQUEUE_AFTER", "300")))
# How far back a scheduler that was down looks for slots to account for.
MAX_LOOKBACK = timedelta(days=7)

# A wall clock further than this from the elapsed time since the previous tick has been stepped.
CLOCK_STEP = timedelta(seconds=float(os.environ.get("HOTLINE_CLOCK_STEP_SECONDS", "10")))
# How often the scheduler process's courier sends the pending alerts.
COURIER_SECONDS = float(os.environ.get("HOTLINE_ALERT_COURIER_SECONDS", "30"))

# The lease's value is "<token>|<schedules version>": renewed, and the version updated, only by its holder.
RENEW = """local v = redis.call('get', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[2]) return 1 else return 0 end"""
RELEASE = """local v = redis.call('get', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"""


def elapsed_seconds() -> float:
    """A clock that never steps and goes on while the machine is suspended (Linux ``CLOCK_BOOTTIME``)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


class Lease:
    """One active replica, by a Redis key holding the owner's token and its schedules version."""

    def __init__(self, redis_url: str, key: str, seconds: float, token: str | None = None):
        import redis

        self.client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.key, self.ms = key, int(seconds * 1000)
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = self.client.register_script(RENEW)
        self._release = self.client.register_script(RELEASE)

    def hold(self, version: str = "") -> bool:
        """Acquire or renew, saying which schedules VERSION this replica runs; False if another
        replica holds it or Redis is unreachable."""
        import redis

        value = f"{self.token}|{version}"
        try:
            if self._renew(keys=[self.key], args=[f"{self.token}|", self.ms, value]):
                return True
            return bool(self.client.set(self.key, value, nx=True, px=self.ms))
        except redis.RedisError as exc:
            log.warning("lease: Redis unavailable (%s); standing by", exc)
            return False

    def holder(self) -> tuple[str, str] | None:
        """(token, schedules version) of the replica holding the lease, if any."""
        import redis

        try:
            value = self.client.get(self.key)
        except redis.RedisError:
            return None
        if not value:
            return None
        token, _, version = decoded(value).partition("|")
        return token, version

    def release(self) -> None:
        import redis

        try:
            self._release(keys=[self.key], args=[f"{self.token}|"])
        except redis.RedisError:
            pass


class Scheduler:
    def __init__(self, schedules_path: Path, *, redis_url: str | None, enqueue: Callable[[Run], str | None],
                 lease_seconds: float = 15, tick_seconds: float = 5, tolerance: timedelta = timedelta(seconds=60),
                 clock: Callable[[], datetime] = now_local, keys: RedisKeys | None = None,
                 database_url: str | None = None, elapsed: Callable[[], float] | None = None):
        self.path = Path(schedules_path)
        self.enqueue, self.clock, self.tick_seconds, self.tolerance = enqueue, clock, tick_seconds, tolerance
        # The wall clock is checked against ELAPSED; a clock a test sets by hand is checked only with one.
        self.elapsed = elapsed or (elapsed_seconds if clock is now_local else None)
        self._in_step: tuple[datetime, float] | None = None   # (wall, elapsed) when the two last agreed
        self._stepped: timedelta | None = None                # the step forward being sat out
        self.factory = session_factory(database_url)
        self.settings = settings = load_settings()
        self.keys, self.instance = keys or settings.redis_keys, settings.instance
        self.lease = Lease(redis_url, self.keys.lease, lease_seconds) if redis_url else None
        self.config: ScheduleFile | None = None
        self.calendar: WorkCalendar | None = None
        self._mtime: float | None = None
        self._bad_digest: str | None = None
        self._reported: set[str] = set()   # problems already recorded in the ledger
        self._watched_at: datetime | None = None
        self._policy_seen: dict[Path, tuple | None] = {}   # policy file → its stat when last checked
        self.last_tick_monotonic: float | None = None   # for the tick-lag series
        self.checked_until: dict[str, datetime] = {}
        self._active = False
        self.waiting_from: dict[str, datetime] = {}
        self.stop_event = threading.Event()

    # -- configuration ----------------------------------------------------------------------
    def loaded(self) -> tuple[ScheduleFile, WorkCalendar]:
        """The schedules and the calendar in force (``reload_if_changed`` raises rather than leave
        either unread)."""
        if self.config is None or self.calendar is None:
            raise RuntimeError("the schedules and the calendar are read by reload_if_changed first")
        return self.config, self.calendar

    def reload_if_changed(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            mtime = None
        self._reload_calendar()
        self._check_policies()
        if mtime == self._mtime and self.config is not None:
            return
        self._mtime = mtime
        try:
            config = load(self.path)
        except ScheduleError as exc:
            self.report_problem("config", f"schedules: invalid edit, keeping the last valid configuration:\n{exc}",
                                {"file": str(self.path)})
            if self.config is None:
                raise
            return
        if self.config is None or config.digest != self.config.digest:
            log.info("schedules: loaded %d schedules from %s", len(config.schedules), self.path)
        self.config = config

    def _check_policies(self) -> None:
        """The policy files under config/: an invalid edit is reported once and alerted; the workers
        keep the last valid version they read (``config.policy``).  A file is read again only when
        it changed (its modification time, size or inode): parsing and validating every file on
        every tick would be the largest part of an idle tick."""
        from .config import ConfigError
        from .policy_schema import CHECKS, OPTIONAL, check

        folder = self.settings.config_dir
        for name in CHECKS:
            path = folder / f"{name}.yaml"
            try:
                stat = path.stat()
                signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            except OSError:
                signature = None
            if name in OPTIONAL and signature is None:
                continue
            if signature is not None and self._policy_seen.get(path) == signature:
                continue
            self._policy_seen[path] = signature
            try:
                check(name, path)
            except ConfigError as exc:
                self.report_problem("config", f"{path.name}: invalid edit, the last valid version stays in force:\n"
                                              f"{exc}", {"file": str(path)})

    def _reload_calendar(self) -> None:
        """The working-day calendar, reloaded when its file changes; a broken edit keeps the last
        valid one (and is reported once), as for the schedules."""
        from .config import ConfigError

        try:
            self.calendar = load_calendar(strict=True)
        except (ConfigError, OSError) as exc:
            self.report_problem("config", f"calendar: invalid edit, keeping the last valid calendar: {exc}",
                                {"file": "calendar"})
            if self.calendar is None:
                raise

    def report_problem(self, job: str, message: str, params: dict, exc_info: bool = False,
                       subject: str = "配置有误，已继续使用上一份有效配置") -> None:
        """Log a problem, alert it and record it as a failed run in the ledger (``hotline runs
        --failed``), once.  The alert and the ledger row are written each in a transaction of its
        own: the fault being reported (a sequence behind its table, say) may well break the other."""
        import hashlib

        from .alerts import alert_now

        digest = hashlib.sha256(message.encode()).hexdigest()
        if digest in self._reported:
            return
        log.error("%s", message, exc_info=exc_info)
        if not alert_now(f"{job}:{digest[:16]}", subject, [message[:2000]], sender=self.settings.smtp["sender"],
                         session_factory=self.factory, now=self.clock()):
            return   # the database is not taking writes: reported again on the next tick
        self._reported.add(digest)
        try:
            with self.factory() as s:
                run = runs.create(s, schedule=f"scheduler:{job}", nominal_at=self.clock(), job=job, period_key="-",
                                  params=params)
                if run is not None:
                    run.state, run.error, run.finished_at = RunState.FAILED.value, message, self.clock()
                s.commit()
        except Exception:  # alerted already; the ledger row is the lesser record
            log.exception("could not record the problem in the ledger")

    # -- one pass ----------------------------------------------------------------------------
    def decide(self, s: Session, sched, now: datetime) -> tuple[list[tuple[Slot, str]], datetime | None]:
        """(slot, decision) for every slot of ``sched`` up to ``now`` not yet in the ledger: fire |
        skipped: why; and the first slot still waiting for a later working day, if any."""
        if sched.name not in self.checked_until:
            # Resume after the last slot the ledger knows; a schedule never run starts now.
            last = s.scalar(select(func.max(Run.nominal_at)).where(Run.schedule == sched.name))
            self.checked_until[sched.name] = last or now
        start = max(self.checked_until[sched.name], now - MAX_LOOKBACK)
        if sched.name in self.waiting_from:   # a slot moved to a later working day, not fired yet
            start = min(start, self.waiting_from[sched.name])
        config, cal = self.loaded()
        candidates = slots(sched, config.timezone, cal, start, now)
        if not candidates:
            return [], None
        known = set(s.scalars(select(Run.nominal_at).where(
            Run.schedule == sched.name, Run.nominal_at >= candidates[0].nominal_at)))
        pending = [c for c in candidates if c.nominal_at not in known]
        waiting = [c for c in pending if c.effective_at is not None and c.effective_at > now]
        ready = [c for c in pending if c.effective_at is not None and c.effective_at <= now]
        out = [(c, f"skipped: {c.note}") for c in pending
               if c.effective_at is None and not c.note.startswith("not the first")]

        def waited(c: Slot) -> timedelta:   # a ready slot's time since it became due
            assert c.effective_at is not None
            return now - c.effective_at

        missed = [c for c in ready if waited(c) > self.tolerance]
        on_time = [c for c in ready if waited(c) <= self.tolerance]
        grace = timedelta(minutes=sched.grace_minutes)
        beyond = "skipped: missed beyond the grace window"
        if sched.misfire == "skip":
            out += [(c, "skipped: missed while the scheduler was down (misfire: skip)") for c in missed]
        elif sched.misfire == "run_once":
            late = [c for c in missed if waited(c) <= grace]
            keep = late[-1:] if not on_time else []
            out += [(c, "fire" if c in keep else (beyond if c not in late else
                                                  "skipped: missed (misfire: run_once ran the latest)"))
                    for c in missed]
        else:
            out += [(c, "fire" if waited(c) <= grace else beyond) for c in missed]
        out += [(c, "fire") for c in on_time]
        out.sort(key=lambda d: d[0].nominal_at)
        return out, (waiting[0].nominal_at - timedelta(seconds=1) if waiting else None)

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
                run.state, run.error, run.finished_at = RunState.SKIPPED.value, decision.removeprefix("skipped: "), self.clock()
            else:
                run.enqueued_at, run.enqueues = self.clock(), 1
            s.commit()
            s.refresh(run)
        if decision == "fire":
            self._send(run)
        return run

    def _send(self, run: Run) -> None:
        """Enqueue the run and keep the broker's message id on it (when the enqueuer gives one)."""
        message_id = self.enqueue(run)
        with self.factory() as s:
            runs.sent(s, run.id, message_id)

    def message_alive(self, run: Run) -> bool:
        """Whether the run's last message still waits in Redis (queued, or delayed for a retry):
        then nothing was lost, only no worker took it yet — re-sending would only double it."""
        if self.lease is None or not run.message_id:
            return False
        import redis

        queue = JOBS[run.job].family if run.job in JOBS else run.job
        try:
            return any(self.lease.client.hexists(self.keys.queue_messages(q), run.message_id)
                       for q in (queue, f"{queue}.DQ"))
        except redis.RedisError:
            return False

    def decision_time(self) -> datetime:
        """The moment slots are decided at: the wall clock, unless it was stepped forward (then the
        elapsed time since the two last agreed, so that no slot ahead of it is taken for missed or
        run early).  Each step is logged and reported once."""
        wall = self.clock()
        if self.elapsed is None:
            return wall
        elapsed = self.elapsed()
        if self._in_step is None:
            self._in_step = (wall, elapsed)
            return wall
        expected = self._in_step[0] + timedelta(seconds=elapsed - self._in_step[1])
        drift = wall - expected
        if abs(drift) <= CLOCK_STEP:
            if self._stepped is not None:
                log.warning("clock: the wall clock is back in step (%s); slots are decided on it again",
                            f"{wall:%Y-%m-%d %H:%M:%S}")
                self._stepped = None
            self._in_step = (wall, elapsed)
            return wall
        seen = f"now {wall:%Y-%m-%d %H:%M:%S}, the elapsed time says {expected:%Y-%m-%d %H:%M:%S}"
        if drift < timedelta(0):   # stepped back: the ledger keeps recorded slots from firing again
            self.report_problem("clock", f"clock: the wall clock was stepped back by {-drift} ({seen}); slots "
                                         "already in the ledger will not fire again", {"step": str(drift)},
                                subject="服务器时钟被回拨，请检查时间同步")
            self._in_step = (wall, elapsed)
            return wall
        if self._stepped is None:
            self._stepped = drift
            self.report_problem("clock", f"clock: the wall clock was stepped forward by {drift} ({seen}); slots are "
                                         "decided on the elapsed time until the clock comes back — restart the "
                                         "scheduler if the new time is right", {"step": str(drift)},
                                subject="服务器时钟被向前调整，请检查时间同步")
        return expected

    def tick(self) -> list[Run]:
        """One pass: each schedule on its own, its marker advanced only past the slots recorded."""
        self.reload_if_changed()
        now = self.decision_time()
        fired = []
        for sched in self.loaded()[0].schedules:
            if not sched.enabled:
                continue
            try:
                with self.factory() as s:
                    decisions, waiting = self.decide(s, sched, now)
                for slot, decision in decisions:
                    run = self.fire(slot, decision)
                    self._log_slot(slot, decision, run)
                    if run is not None and decision == "fire":
                        fired.append(run)
                self.checked_until[sched.name] = now
                if waiting:
                    self.waiting_from[sched.name] = waiting
                else:
                    self.waiting_from.pop(sched.name, None)
            except Exception as exc:  # noqa: BLE001 — one schedule's fault never stops the others
                self.report_problem("config", f"schedule {sched.name!r} (line {sched.line}): "
                                              f"{type(exc).__name__}: {exc}", {"schedule": sched.name}, exc_info=True)
        self.sweep()
        self.watch(self.clock())
        return fired

    def watch(self, now: datetime) -> None:
        """Once a minute: the alert checks that need no event (``alerts.watch``; the alerts are only
        enqueued), and the tick's time for ``hotline doctor``."""
        from .alerts import watch

        self._beacon(now)
        self.last_tick_monotonic = time.monotonic()
        if self._watched_at is not None and abs(now - self._watched_at) < timedelta(minutes=1):
            return
        self._watched_at = now
        try:
            with self.factory() as s:
                watch(s, now, self.calendar, sender=self.settings.smtp["sender"])
                s.commit()
        except Exception:
            log.exception("alert checks failed")

    def _beacon(self, now: datetime) -> None:
        """The last tick's time and this replica's token, for ``hotline doctor`` (expires in 2 minutes)."""
        if self.lease is None:
            return
        import redis

        try:
            self.lease.client.set(self.keys.last_tick,
                                  f"{now.isoformat(sep=' ')}|{self.lease.token}", ex=120)
        except redis.RedisError:
            pass

    def _alive(self, state: str) -> None:
        """This replica's liveness for ``hotline health scheduler`` (a container's healthcheck): set
        after every pass, so a process stuck in a pass or cut off from Redis goes unhealthy."""
        if self.lease is None:
            return
        import redis

        try:
            self.lease.client.set(self.keys.alive("scheduler", self.instance), state, ex=int(max(30, 3 * self.tick_seconds)))
        except redis.RedisError:
            pass

    @staticmethod
    def _log_slot(slot: Slot, decision: str, run: Run | None) -> None:
        """Every slot fired, skipped or moved, with the reason (one line each)."""
        if run is None:
            return
        moved = (f" (moved from {slot.nominal_at:%Y-%m-%d %H:%M}: {slot.note})"
                 if slot.effective_at and slot.effective_at != slot.nominal_at else "")
        if decision == "fire":
            log.info("slot %s %s fired as run %s%s", slot.schedule.name,
                     f"{(slot.effective_at or slot.nominal_at):%Y-%m-%d %H:%M}", run.id, moved,
                     extra={"run_id": run.id})
        else:
            log.info("slot %s %s %s", slot.schedule.name, f"{slot.nominal_at:%Y-%m-%d %H:%M}", decision,
                     extra={"run_id": run.id})

    def sweep(self) -> None:
        now = self.clock()
        from .alerts import alert_now

        with self.factory() as s:
            result = runs.sweep(s, {name: spec.time_limit for name, spec in JOBS.items()})
            for run_id in result["timed_out"] + result["abandoned"]:   # committed: alerted each on its own
                run = s.get_one(Run, run_id)
                alert_now(f"run_failed:{run_id}", f"任务失败：{run.job}（{run.period_key}，运行 {run_id}）",
                          [run.error or "", "详见 hotline runs --failed。"], job=run.job, session_factory=self.factory,
                          now=now, sender=self.settings.smtp["sender"])
            requeue = [run for run in (s.get(Run, i) for i in result["requeued"]) if run is not None]
            # A queued run nobody took: its message is lost (or no worker runs).  Send it again once
            # the interval has passed since the last send, the interval doubling with each send.
            stale = now - REQUEUE_AFTER
            for run in s.scalars(select(Run).where(Run.state == RunState.QUEUED.value, or_(
                    Run.enqueued_at < stale, Run.enqueued_at.is_(None) & (Run.created_at < stale)))):
                last = run.enqueued_at or run.created_at
                if last > now - REQUEUE_AFTER * (2 ** min(run.enqueues, 6)) or self.message_alive(run):
                    continue
                if run.enqueues >= 8:   # a day and more of re-sends: give up loudly
                    run.state, run.finished_at = RunState.FAILED.value, now
                    run.error = f"no worker took the run after {run.enqueues} sends: {run.error or ''}"
                    continue
                requeue.append(run)
            for run in requeue:
                run.enqueued_at, run.enqueues = now, run.enqueues + 1
            s.commit()
        for run in requeue:
            log.warning("run %s (%s) re-enqueued (send %d)", run.id, run.job, run.enqueues, extra={"run_id": run.id})
            self._send(run)

    # -- the process -------------------------------------------------------------------------
    def seconds_to_wait(self, now: datetime) -> float:
        """Until the next slot of any schedule, and never longer than a tick: a job starts on its
        minute, not up to a tick after it, while edits, the lease and the sweep are still seen to
        every tick.  (A few milliseconds past the slot, so that the pass finds it due.)"""
        if self.config is None:
            return self.tick_seconds
        tz = self.config.timezone
        start = now.replace(tzinfo=tz)
        upcoming = [croniter(sched.cron, start).get_next(datetime) for sched in self.config.schedules if sched.enabled]
        if not upcoming:
            return self.tick_seconds
        until = (min(upcoming).astimezone(tz).replace(tzinfo=None) - now).total_seconds() + 0.005
        return min(self.tick_seconds, max(0.0, until))

    @property
    def version(self) -> str:
        """The schedules this replica runs: the first 12 hex digits of the file's hash."""
        return self.config.digest[:12] if self.config else ""

    def step(self) -> bool:
        """Hold the lease (saying which schedules version runs here) and tick if held; a standby
        compares its version with the active replica's.  Whether this replica is active."""
        holds = self.lease.hold(self.version) if self.lease else True
        if holds != self._active:
            log.info("scheduler: %s", "active" if holds else "standing by")
            self._active = holds
        if holds:
            try:
                self.tick()
            except Exception:  # a bad tick must not end the process; the next one retries
                log.exception("scheduler tick failed")
        else:
            self._compare_versions()
        self._alive("active" if holds else "standby")
        return holds

    def _compare_versions(self) -> None:
        if self.lease is None:
            return
        holder = self.lease.holder()
        if holder is None or not holder[1] or not self.version or holder[1] == self.version:
            return
        self.report_problem("config", f"schedules: the replicas run different versions of schedules.yaml — this one "
                                      f"({self.lease.token}) {self.version}, the active one ({holder[0]}) {holder[1]}; "
                                      "each would fire its own whenever it holds the lease. Deploy the same "
                                      f"{self.path.name} to every replica.",
                            {"versions": sorted([self.version, holder[1]])},
                            subject="调度副本的 schedules.yaml 版本不一致")

    def _courier(self) -> None:
        """The alerts' own sender in this process, beside the tick (a slow relay delays only it)."""
        from .delivery import deliver_alerts

        while not self.stop_event.wait(COURIER_SECONDS):
            deliver_alerts(self.factory, self.settings)

    def run_forever(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.reload_if_changed()
        threading.Thread(target=self._courier, daemon=True, name="alert-courier").start()
        while not self.stop_event.is_set():
            holds = self.step()
            precise = datetime.now(TZ).replace(tzinfo=None)   # the ledger's clock keeps whole seconds
            self.stop_event.wait(self.seconds_to_wait(precise) if holds else self.tick_seconds)
        if self.lease:
            self.lease.release()
        log.info("scheduler: stopped")
