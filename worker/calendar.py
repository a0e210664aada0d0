"""The working-day calendar (工作日历) and its vectorized ordinal table.

Sources, in order: the ``chinese-calendar`` package's transcription of the State Council's
yearly holiday notices, then ``calendar.yaml``, whose years *replace* the package's data for
that year.  A year covered by neither is unknown; anything that needs an unknown day raises
``UnknownYearError`` naming the year and the file to edit — never a weekday guess.

The table: one entry per day from the first known year to the last, ``work_cum[i]`` the number
of working days up to and including day ``i``.  "N working days after date d" is then one
``searchsorted`` for a whole array of tickets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from .config import ConfigError, read_yaml

_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(?:\.\.\s*(\d{4}-\d{2}-\d{2}))?\s*$")


class UnknownYearError(Exception):
    def __init__(self, year: int, calendar_file: Path | str):
        self.year = year
        self.calendar_file = calendar_file
        super().__init__(
            f"the working-day calendar has no data for {year}: add the State Council's holiday "
            f"notice for {year} under 'years: {year}:' in {calendar_file}")


def _expand(item: str, where: str) -> list[date]:
    match = _RANGE.match(str(item))
    if not match:
        raise ConfigError(f"{where}: {item!r} is not a date or an 'A..B' range")
    try:
        start = date.fromisoformat(match.group(1))
        end = date.fromisoformat(match.group(2) or match.group(1))
    except ValueError as exc:
        raise ConfigError(f"{where}: {item!r}: {exc}") from None
    if end < start:
        raise ConfigError(f"{where}: {item!r} ends before it starts")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _package_years() -> dict[int, tuple[set[date], set[date]]]:
    from chinese_calendar import constants

    years: dict[int, tuple[set[date], set[date]]] = {}
    for day in constants.holidays:
        years.setdefault(day.year, (set(), set()))[0].add(day)
    for day in constants.workdays:
        years.setdefault(day.year, (set(), set()))[1].add(day)
    return years


def _override_years(path: Path) -> dict[int, tuple[set[date], set[date]]]:
    if not path.exists():
        return {}
    from .policy_schema import check
    check("calendar", path)   # keys and types, each problem on its line (worker.schema)
    data = read_yaml(path)
    unknown = set(data) - {"years"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; expected 'years'")
    years: dict[int, tuple[set[date], set[date]]] = {}
    for year, spec in (data.get("years") or {}).items():
        where = f"{path}: years.{year}"
        if not isinstance(year, int):
            raise ConfigError(f"{where}: the year must be a number like 2027")
        spec = spec or {}
        extra = set(spec) - {"holidays", "workdays"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}; expected holidays, workdays")
        holidays = {d for item in spec.get("holidays") or [] for d in _expand(item, f"{where}.holidays")}
        workdays = {d for item in spec.get("workdays") or [] for d in _expand(item, f"{where}.workdays")}
        for d in holidays | workdays:
            if d.year != year:
                raise ConfigError(f"{where}: {d} is not in {year}")
        both = holidays & workdays
        if both:
            raise ConfigError(f"{where}: {min(both)} is listed as both holiday and workday")
        years[year] = (holidays, workdays)
    return years


@dataclass
class Coverage:
    year: int
    source: str  # package | calendar.yaml


class WorkCalendar:
    """Working days for the known years; vectorized arithmetic over them."""

    def __init__(self, calendar_file: Path | str, use_package: bool = True):
        self.calendar_file = Path(calendar_file)
        years = _package_years() if use_package else {}
        self.sources = {y: "chinese-calendar" for y in years}
        for year, spec in _override_years(self.calendar_file).items():
            years[year] = spec
            self.sources[year] = str(self.calendar_file.name)
        if not years:
            raise ConfigError(f"{self.calendar_file}: no calendar year is known")
        self.first_year, self.last_year = min(years), max(years)
        self.origin = date(self.first_year, 1, 1)
        self.origin_day = int(np.datetime64(self.origin, "D").view(np.int64))
        n_days = (date(self.last_year, 12, 31) - self.origin).days + 1
        weekday = (np.arange(n_days) + self.origin.weekday()) % 7
        is_work = weekday < 5
        known = np.zeros(n_days, dtype=bool)
        self.holidays = frozenset(d for holidays, _ in years.values() for d in holidays)   # 法定节假日
        for year, (holidays, workdays) in years.items():
            start = (date(year, 1, 1) - self.origin).days
            end = (date(year, 12, 31) - self.origin).days
            known[start:end + 1] = True
            for d in holidays:
                is_work[(d - self.origin).days] = False
            for d in workdays:
                is_work[(d - self.origin).days] = True
        self.is_work = is_work
        self.known = known
        self.work_cum = np.cumsum(is_work, dtype=np.int64)
        self.unknown_cum = np.cumsum(~known, dtype=np.int64)
        # The k-th working day of the table (k counted as work_cum counts): adding n working days
        # is then two lookups, nth_workday[work_cum[start] + n], with no search per row.
        self.nth_workday = np.searchsorted(self.work_cum, np.arange(self.work_cum[-1] + 1), side="left")
        self.gapless = bool(known.all())   # no unknown year between the first and the last

    # -- scalar helpers -------------------------------------------------------------------
    def coverage(self) -> list[Coverage]:
        return [Coverage(y, self.sources[y]) for y in sorted(self.sources)]

    def knows(self, year: int) -> bool:
        return year in self.sources

    def missing_years(self, start: date | datetime, days: int) -> list[int]:
        """The years within ``days`` of ``start`` that the calendar lacks: the operators must add them
        before the deadlines of those days can be counted (the scheduler's alert, the demo's summary)."""
        day = start.date() if isinstance(start, datetime) else start
        return sorted({(day + timedelta(days=d)).year for d in range(days + 1)} - set(self.sources))

    def is_workday(self, day: date) -> bool:
        self._require(day)
        return bool(self.is_work[(day - self.origin).days])

    def _require(self, day: date) -> None:
        if not self.knows(day.year):
            raise UnknownYearError(day.year, self.calendar_file)

    def add_working_days(self, day: date, n: int) -> date:
        return self.add_working_days_dates(np.array([self.ordinal(day)]), np.array([n]))[0]

    def next_workday(self, day: date) -> date:
        """The first working day on or after ``day``."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def ordinal(self, day: date | datetime) -> int:
        if isinstance(day, datetime):
            day = day.date()
        self._require(day)
        return (day - self.origin).days

    # -- vectorized -----------------------------------------------------------------------
    def ordinals(self, days: np.ndarray) -> np.ndarray:
        """``datetime64`` array (any unit) → day ordinals into the table; checks coverage."""
        ords = days.astype("datetime64[D]").view(np.int64) - self.origin_day
        if len(ords) == 0:
            return ords
        low, high = ords.min(), ords.max()   # NaT is the smallest int64: below the table
        if low < 0 or high >= len(self.is_work) or (
                not self.gapless and (~self.known[np.clip(ords, 0, len(self.known) - 1)]).any()):
            self._raise_first_unknown(ords)
        return ords

    def _raise_first_unknown(self, ords: np.ndarray) -> None:
        for o in np.unique(ords):
            day = self.origin + timedelta(days=int(o))
            if not self.knows(day.year):
                raise UnknownYearError(day.year, self.calendar_file)

    def add_working_days_array(self, start_ords: np.ndarray, n) -> np.ndarray:
        """For each start day (ordinal, not counted), the date of its n-th following working day."""
        return (self.add_working_days_ords(start_ords, n) + self.origin_day).view("datetime64[D]")

    def add_working_days_ords(self, start_ords: np.ndarray, n) -> np.ndarray:
        """As ``add_working_days_array``, as table ordinals (N an array or one number for all)."""
        target = self.work_cum[start_ords] + n
        if len(target) and target.max() >= len(self.nth_workday):
            raise UnknownYearError(self.last_year + 1, self.calendar_file)
        end = self.nth_workday[target]
        gaps = None if self.gapless else self.unknown_cum[end] - self.unknown_cum[start_ords]
        if gaps is not None and gaps.any():
            i = int(np.flatnonzero(gaps)[0])
            for o in range(int(start_ords[i]), int(end[i]) + 1):
                if not self.known[o]:
                    raise UnknownYearError((self.origin + timedelta(days=o)).year, self.calendar_file)
        return end

    def add_working_days_dates(self, start_ords: np.ndarray, n: np.ndarray) -> list[date]:
        return self.add_working_days_array(start_ords, n).astype(object).tolist()


_cache: dict[tuple[str, float], WorkCalendar] = {}
_broken: dict[tuple[str, float], ConfigError] = {}
_last_valid: dict[str, WorkCalendar] = {}


def load_calendar(calendar_file: Path | str | None = None, *, strict: bool = False) -> WorkCalendar:
    """The calendar for a file, rebuilt when the file changes.

    A broken edit raises ``ConfigError`` (naming the file and line) when ``strict`` — for the checks
    that report it: ``hotline calendar check``, ``doctor``, the scheduler — and otherwise, in a
    process that read a valid version before (a worker), is logged once while the last valid
    calendar stays in force, as for the policy files (``config.policy``)."""
    import logging

    from .config import load_settings

    path = Path(calendar_file) if calendar_file else load_settings().calendar_file
    name = str(path.resolve())
    key = (name, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _cache and key not in _broken:
        try:
            _cache[key] = WorkCalendar(path)
        except ConfigError as exc:
            _broken[key] = exc
            if name in _last_valid:
                logging.getLogger("hotline.calendar").error("%s\nkeeping the last valid calendar of %s", exc, path)
    if key in _cache:
        _last_valid[name] = _cache[key]
        return _cache[key]
    if strict or name not in _last_valid:
        raise _broken[key]
    return _last_valid[name]
