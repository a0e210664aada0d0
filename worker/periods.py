"""Reporting periods: a week (Monday to Sunday), a month, a quarter, a year, a day.

A period is the half-open span ``[start, end)`` of local time with a stable key
(``2026-W45``, ``2026-11``, ``2026-Q4``, ``2026``, ``2026-11-20``) used by the run ledger,
the documents and the escalation history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class Period:
    kind: str   # day | week | month | quarter | year
    start: date
    end: date   # exclusive

    @property
    def key(self) -> str:
        s = self.start
        if self.kind == "day":
            return s.isoformat()
        if self.kind == "week":
            y, w, _ = s.isocalendar()
            return f"{y}-W{w:02d}"
        if self.kind == "month":
            return f"{s.year}-{s.month:02d}"
        if self.kind == "quarter":
            return f"{s.year}-Q{(s.month - 1) // 3 + 1}"
        return str(s.year)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time())

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, datetime.min.time())

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def previous(self, n: int = 1) -> Period:
        p = self
        for _ in range(n):
            p = containing(p.kind, p.start - timedelta(days=1))
        return p

    def year_before(self) -> Period:
        try:
            day = self.start.replace(year=self.start.year - 1)
        except ValueError:  # 29 February
            day = self.start.replace(year=self.start.year - 1, day=28)
        if self.kind == "week":
            y, w, _ = self.start.isocalendar()
            day = date.fromisocalendar(y - 1, min(w, 52), 1)
        return containing(self.kind, day)

    def label(self) -> str:
        """The Chinese label used in documents."""
        s = self.start
        if self.kind == "day":
            return f"{s.year}年{s.month}月{s.day}日"
        if self.kind == "week":
            e = self.last_day
            return f"{s.year}年{s.month}月{s.day}日至{e.month}月{e.day}日"
        if self.kind == "month":
            return f"{s.year}年{s.month}月"
        if self.kind == "quarter":
            return f"{s.year}年第{'一二三四'[(s.month - 1) // 3]}季度"
        return f"{s.year}年"


def containing(kind: str, day: date | datetime) -> Period:
    if isinstance(day, datetime):
        day = day.date()
    if kind == "day":
        return Period("day", day, day + timedelta(days=1))
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period("week", start, start + timedelta(days=7))
    if kind == "month":
        start = day.replace(day=1)
        return Period("month", start, (start + timedelta(days=32)).replace(day=1))
    if kind == "quarter":
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        end = date(day.year + (start.month + 3 > 12), (start.month + 2) % 12 + 1, 1)
        return Period("quarter", start, end)
    if kind == "year":
        return Period("year", date(day.year, 1, 1), date(day.year + 1, 1, 1))
    raise ValueError(f"unknown period kind {kind!r}; expected day, week, month, quarter or year")


def parse_key(key: str) -> Period:
    """The period of a key such as ``2026-W45`` or ``2026-11``."""
    if "-W" in key:
        y, w = key.split("-W")
        return containing("week", date.fromisocalendar(int(y), int(w), 1))
    if "-Q" in key:
        y, q = key.split("-Q")
        return containing("quarter", date(int(y), 3 * int(q) - 2, 1))
    parts = key.split("-")
    if len(parts) == 3:
        return containing("day", date.fromisoformat(key))
    if len(parts) == 2:
        return containing("month", date(int(parts[0]), int(parts[1]), 1))
    return containing("year", date(int(key), 1, 1))
