"""``schedules.yaml``: loading with line numbers, validation, and the fire-time arithmetic.

A *slot* is one nominal fire time of a schedule (its cron time).  On a non-working day a
``workdays`` schedule either skips the slot or moves it to the next working day at the same
time (``effective_at``); the slot keeps its nominal time as its key and its period.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter

from .calendar import UnknownYearError, WorkCalendar

SCHEDULE_KEYS = {"name", "actor", "cron", "days", "on_holiday", "period", "recipients", "misfire", "grace_minutes",
                 "enabled", "first_workday_of_month", "params"}
TOP_KEYS = {"timezone", "defaults", "schedules"}


class _LineLoader(yaml.SafeLoader):
    """A loader that remembers the line of every mapping (as ``__line__``)."""


def _construct_mapping(loader, node, deep=False):
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
    return mapping


def suggest(word, known) -> str:
    """" (did you mean 'weekly_bulletin'?)" for a near miss, else the list of what is known."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(map(str, known)))})"


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


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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


def load(path: Path | str) -> ScheduleFile:
    """Parse and validate; raises ``ScheduleError`` listing every problem with its line."""
    from . import tasks  # noqa: F401  (registers the jobs)
    from .jobs import JOBS
    from .recipients import GROUPS

    path = Path(path)
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScheduleError([f"{path}: cannot read: {exc}"]) from None
    import hashlib
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        data = yaml.load(text, Loader=_LineLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScheduleError([(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: "
                             f"{getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise ScheduleError([f"{path}:1: expected a mapping with timezone and schedules"])
    for key in set(data) - TOP_KEYS - {"__line__", "__lines__"}:
        problems.append(f"{path}:{data['__lines__'].get(key, data['__line__'])}: unknown key {key!r}"
                        f"{suggest(key, TOP_KEYS)}")
    try:
        tz = ZoneInfo(str(data.get("timezone", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{path}:{data.get('__line__', 1)}: unknown time zone {data.get('timezone')!r}")
        tz = ZoneInfo("Asia/Shanghai")
    defaults = {k: v for k, v in (data.get("defaults") or {}).items() if k not in ("__line__", "__lines__")}
    for key in set(defaults) - SCHEDULE_KEYS:
        problems.append(f"{path}:{data['defaults']['__lines__'].get(key, data['defaults']['__line__'])}: defaults: "
                        f"unknown key {key!r}{suggest(key, SCHEDULE_KEYS)}")
    schedules, names = [], set()
    items = data.get("schedules")
    if not isinstance(items, list) or not items:
        problems.append(f"{path}:{data.get('__line__', 1)}: 'schedules' must be a non-empty list")
        items = []
    for item in items:
        if not isinstance(item, dict):
            problems.append(f"{path}: a schedule entry is not a mapping: {item!r}")
            continue
        line = item.pop("__line__", 0)
        lines = item.pop("__lines__", {})
        where = f"{path}:{line}"
        at = lambda key, lines=lines, line=line: f"{path}:{lines.get(key, line)}"   # the line of the key
        for key in set(item) - SCHEDULE_KEYS:
            problems.append(f"{at(key)}: unknown key {key!r} in schedule {item.get('name', '?')!r}"
                            f"{suggest(key, SCHEDULE_KEYS)}")
        spec = {**{k: v for k, v in defaults.items() if k in SCHEDULE_KEYS}, **{k: v for k, v in item.items()
                                                                                if k in SCHEDULE_KEYS}}
        name = spec.get("name")
        if not name:
            problems.append(f"{where}: a schedule needs a name")
            continue
        if name in names:
            problems.append(f"{where}: duplicate schedule name {name!r}")
        names.add(name)
        if spec.get("actor") not in JOBS:
            problems.append(f"{at('actor')}: schedule {name!r}: unknown actor {spec.get('actor')!r}"
                            f"{suggest(spec.get('actor'), JOBS)}")
        problem = cron_problem(spec.get("cron"))
        if problem:
            problems.append(f"{at('cron')}: schedule {name!r}: bad cron expression {spec.get('cron')!r}: {problem}")
        for key, allowed in (("days", {"all", "workdays"}), ("on_holiday", {"skip", "next_workday"}),
                             ("misfire", {"skip", "run_once", "catch_up"}), ("period", {"previous", "current"})):
            if key in spec and spec[key] not in allowed:
                problems.append(f"{at(key)}: schedule {name!r}: {key} must be one of {', '.join(sorted(allowed))}, "
                                f"not {spec[key]!r}{suggest(spec[key], allowed)}")
        recipients = spec.get("recipients") or []
        if not isinstance(recipients, list):
            problems.append(f"{at('recipients')}: schedule {name!r}: recipients must be a list such as "
                            f"[{recipients}], not the string {recipients!r}")
            recipients = []
        for group in recipients:
            if group not in GROUPS:
                problems.append(f"{at('recipients')}: schedule {name!r}: unknown recipient group {group!r}"
                                f"{suggest(group, GROUPS)}")
        grace = spec.get("grace_minutes", 720)
        if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
            problems.append(f"{at('grace_minutes')}: schedule {name!r}: grace_minutes must be a whole number of "
                            f"minutes, not {grace!r}")
        for key in ("enabled", "first_workday_of_month"):
            if key in spec and not isinstance(spec[key], bool):
                problems.append(f"{at(key)}: schedule {name!r}: {key} must be true or false (unquoted), "
                                f"not {spec[key]!r}")
        params = {k: v for k, v in (spec.get("params") or {}).items() if k not in ("__line__", "__lines__")}
        schedules.append(Schedule(
            name=name, actor=spec.get("actor"), cron=spec.get("cron"), days=spec.get("days", "all"),
            on_holiday=spec.get("on_holiday", "skip"), period=spec.get("period", "previous"),
            recipients=list(recipients), misfire=spec.get("misfire", "run_once"),
            grace_minutes=grace if isinstance(grace, int) else 720, enabled=spec.get("enabled", True) is True,
            first_workday_of_month=spec.get("first_workday_of_month", False) is True, params=params, line=line))
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
    out = []
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
