"""``schedules.yaml``: loading with line numbers, validation, and the fire-time arithmetic.

A *slot* is one nominal fire time of a schedule (its cron time).  On a non-working day a
``workdays`` schedule either skips the slot or moves it to the next working day at the same
time (``effective_at``); the slot keeps its nominal time as its key and its period.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, ValidationError, field_validator

from .calendar import UnknownYearError, WorkCalendar
from .config import ConfigError
from .job_names import JOB_NAMES, PARTS
from .schema import Strict, load_yaml, plain, suggest
from .schema import _line as schema_line
from .schema import describe as schema_describe

CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7),
               ("second", 0, 59))


def cron_problem(cron) -> str | None:
    """What is wrong with a cron expression, in words: which field, which range; or one that can
    never fire (30 February)."""
    import re

    if not isinstance(cron, str):
        return f"a cron must be a quoted string such as \"30 8 * * *\", not {cron!r}"
    fields = cron.split()
    if len(fields) not in (5, 6):
        return f"{len(fields)} field(s) where 5 are needed: minute hour day-of-month month day-of-week"
    for text, (label, lo, hi) in zip(fields, CRON_FIELDS, strict=False):
        for number in re.findall(r"\d+", text.split("/")[0]) if not re.search(r"[A-Za-z]", text) else []:
            if not lo <= int(number) <= hi:
                return f"the {label} field {text!r} is outside {lo}-{hi}"
    if not croniter.is_valid(cron):
        return "not a valid expression (croniter syntax: minute hour day-of-month month day-of-week)"
    try:
        croniter(cron, datetime(2026, 1, 1), max_years_between_matches=5).get_next(datetime)
    except Exception:  # noqa: BLE001 — croniter's "no match" error differs between its releases
        return "it can never fire (no such date within five years)"
    return None


@dataclass
class Schedule:
    name: str
    actor: str
    cron: str
    days: str = "all"
    on_holiday: str = "skip"
    period: str = "previous"
    recipients: list[str] = field(default_factory=list)
    misfire: str = "run_once"
    grace_minutes: int = 720
    enabled: bool = True
    first_workday_of_month: bool = False
    params: dict = field(default_factory=dict)
    line: int = 0


@dataclass
class ScheduleFile:
    path: Path
    timezone: ZoneInfo
    schedules: list[Schedule]
    digest: str


class ScheduleError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class ScheduleFields(Strict):
    """One schedule, or the ``defaults`` every schedule takes (so every field is optional here;
    ``ScheduleSpec`` requires what a schedule needs once the defaults are merged)."""
    name: str | None = None
    actor: str | None = None
    cron: str | None = None
    days: Literal["all", "workdays"] = "all"
    on_holiday: Literal["skip", "next_workday"] = "skip"
    period: Literal["previous", "current"] = "previous"
    recipients: list[str] = Field(default_factory=list)
    misfire: Literal["skip", "run_once", "catch_up"] = "run_once"
    grace_minutes: Annotated[int, Field(ge=0)] = 720
    enabled: bool = True
    first_workday_of_month: bool = False
    params: dict = Field(default_factory=dict)

    @field_validator("actor")
    @classmethod
    def _actor(cls, actor):
        if actor is not None and actor not in JOB_NAMES:
            raise ValueError(f"unknown actor {actor!r}{suggest(actor, JOB_NAMES)}")
        if actor in PARTS:
            raise ValueError(f"{actor!r} is a part of the {PARTS[actor]!r} runs, started by them: schedule {PARTS[actor]!r}")
        return actor

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron):
        problem = cron_problem(cron) if cron is not None else None
        if problem:
            raise ValueError(f"bad cron expression {cron!r}: {problem}")
        return cron

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, groups):
        from .recipients import GROUPS
        bad = [g for g in groups if g not in GROUPS]
        if bad:
            raise ValueError("; ".join(f"unknown recipient group {g!r}{suggest(g, GROUPS)}" for g in bad))
        return groups


class ScheduleSpec(ScheduleFields):
    name: str
    actor: str
    cron: str


class FileFields(Strict):
    timezone: str = "Asia/Shanghai"
    defaults: ScheduleFields = Field(default_factory=ScheduleFields)
    schedules: list = Field(default_factory=list)


def load(path: Path | str) -> ScheduleFile:
    """Parse and validate (pydantic models, ``worker.schema``); raises ``ScheduleError`` listing every
    problem on the line of its key, with the closest valid name for a misspelt key, actor, value
    or recipient group."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScheduleError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = load_yaml(path, text)
    except ConfigError as exc:
        raise ScheduleError(str(exc).splitlines()) from None
    import hashlib
    digest = hashlib.sha256(text.encode()).hexdigest()
    problems: list[str] = []
    top = {k: v for k, v in data.items() if not k.startswith("__")} | {"schedules": []}
    try:
        FileFields.model_validate(plain(top))
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            line = schema_line(data, loc)
            prefix = "defaults: " if loc and loc[0] == "defaults" and len(loc) > 1 else ""
            problems += [f"{path}:{line}: {prefix}{part}" for part in schema_describe(err, FileFields).split("; ")]
    try:
        tz = ZoneInfo(str(data.get("timezone", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{path}:{data['__lines__'].get('timezone', 1)}: unknown time zone {data.get('timezone')!r}")
        tz = ZoneInfo("Asia/Shanghai")
    defaults = {k: v for k, v in plain(data.get("defaults") or {}).items() if k in ScheduleFields.model_fields}
    items = data.get("schedules")
    if not isinstance(items, list) or not items:
        problems.append(f"{path}:{data['__lines__'].get('schedules', 1)}: 'schedules' must be a non-empty list")
        items = []
    schedules, names = [], set()
    for item in items:
        if not isinstance(item, dict):
            problems.append(f"{path}:{data['__lines__'].get('schedules', 1)}: a schedule entry is not a mapping: "
                            f"{item!r}")
            continue
        line, name = item.get("__line__", 0), item.get("name")
        if name in names:
            problems.append(f"{path}:{line}: duplicate schedule name {name!r}")
        names.add(name)
        try:
            spec = ScheduleSpec.model_validate(defaults | plain(item))
        except ValidationError as exc:
            for err in exc.errors():
                key = err["loc"][0] if err["loc"] else ""
                where = f"{path}:{item.get('__lines__', {}).get(key, line)}"
                message = schema_describe(err, ScheduleSpec)
                if err["type"] == "extra_forbidden":
                    problems.append(f"{where}: {message.split(' (')[0]} in schedule {name or '?'!r}"
                                    f"{message[len(message.split(' (')[0]):]}")
                elif err["type"] == "missing" and key == "name":
                    problems.append(f"{where}: a schedule needs a name")
                else:
                    problems += [f"{where}: schedule {name or '?'!r}: {part}" for part in message.split("; ")]
            continue
        schedules.append(Schedule(
            name=spec.name, actor=spec.actor, cron=spec.cron, days=spec.days, on_holiday=spec.on_holiday,
            period=spec.period, recipients=list(spec.recipients), misfire=spec.misfire,
            grace_minutes=spec.grace_minutes, enabled=spec.enabled,
            first_workday_of_month=spec.first_workday_of_month, params=dict(spec.params), line=line))
    if problems:
        raise ScheduleError(problems)
    return ScheduleFile(path, tz, schedules, digest)


@dataclass
class Slot:
    schedule: Schedule
    nominal_at: datetime     # naive local: the cron time, the ledger key
    effective_at: datetime | None   # when it fires; None when skipped for a holiday
    note: str = ""


def _is_first_workday(cal: WorkCalendar, day) -> bool:
    d = day.replace(day=1)
    while not cal.is_workday(d):
        d += timedelta(days=1)
    return d == day


def slots(sched: Schedule, tz: ZoneInfo, cal: WorkCalendar, start: datetime, end: datetime) -> list[Slot]:
    """Slots with nominal time in (start, end], naive local times (the file's zone is Asia/Shanghai)."""
    it = croniter(sched.cron, start.replace(tzinfo=tz))
    out: list[Slot] = []
    while True:
        nominal = it.get_next(datetime).replace(tzinfo=None)
        if nominal > end:
            return out
        out.append(place(sched, cal, nominal))


def place(sched: Schedule, cal: WorkCalendar, nominal: datetime) -> Slot:
    if sched.days != "workdays":
        return Slot(sched, nominal, nominal)
    try:
        if sched.first_workday_of_month:
            return Slot(sched, nominal, nominal) if _is_first_workday(cal, nominal.date()) else \
                Slot(sched, nominal, None, "not the first working day of the month")
        if cal.is_workday(nominal.date()):
            return Slot(sched, nominal, nominal)
        if sched.on_holiday == "next_workday":
            day = cal.next_workday(nominal.date())
            return Slot(sched, nominal, datetime.combine(day, nominal.time()), f"moved to {day} (holiday)")
        return Slot(sched, nominal, None, "skipped: not a working day")
    except UnknownYearError as exc:
        return Slot(sched, nominal, None, f"skipped: {exc}")


def next_fire(sched: Schedule, tz: ZoneInfo, cal: WorkCalendar, begin: datetime, within_days: int = 400) -> Slot | None:
    """The first slot after ``begin`` that fires (holiday skips passed over), or the first one the
    calendar cannot place (its note says why); None when none falls within ``within_days``."""
    cursor, horizon, step = begin, begin + timedelta(days=within_days), timedelta(hours=1)
    while cursor < horizon:
        end = min(cursor + step, horizon)
        for slot in slots(sched, tz, cal, cursor, end):
            if slot.effective_at is not None or "calendar has no data" in slot.note:
                return slot
        # a minutely schedule answers within the hour; a monthly one is found a month at a time
        cursor, step = end, min(step * 24, timedelta(days=31))
    return None
