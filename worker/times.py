"""Time conventions: naive Asia/Shanghai wall time everywhere inside, aware at the edges.

The whole policy is stated in local dates ("the 3rd working day, 23:59:59"), so storage
keeps naive local time (the hotline platform exports it that way too).  Anything aware that
enters is converted to Asia/Shanghai and made naive; anything leaving for a user or an API
gets ``+08:00`` again (``to_aware``).  ``LocalDateTime`` enforces this at the database edge.
"""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.types import DateTime, TypeDecorator

TZ = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)


def to_local(value: datetime) -> datetime:
    """Naive Asia/Shanghai wall time; a naive value is taken as already local."""
    if value.tzinfo is not None:
        value = value.astimezone(TZ).replace(tzinfo=None)
    return value.replace(microsecond=0)


def to_aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=TZ)


def iso(value: datetime | None) -> str | None:
    aware = to_aware(value)
    return None if aware is None else aware.isoformat()


def now_local() -> datetime:
    return datetime.now(TZ).replace(tzinfo=None, microsecond=0)


def now_precise() -> datetime:
    """Now with its microseconds: for how long something took (a run), where whole seconds made
    every run under a second read 0."""
    return datetime.now(TZ).replace(tzinfo=None)


def parse_local(text: str) -> datetime:
    """Parse '2025-04-30 10:00', '2025-04-30T10:00:00+08:00', '2025/4/30 10:00' or a bare date."""
    text = str(text).strip()
    for fmt_text in (text, text.replace("/", "-")):
        try:
            return to_local(datetime.fromisoformat(fmt_text))
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text.replace("/", "-"), fmt)
        except ValueError:
            pass
    raise ValueError(f"not a timestamp: {text!r}")


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY)


def chinese_date(day: date) -> str:
    """2026年11月21日 — the form official documents use."""
    return f"{day.year}年{day.month}月{day.day}日"


class LocalDateTime(TypeDecorator):
    """A DateTime column that only ever holds naive Asia/Shanghai time."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else to_local(value)

    def result_processor(self, dialect, coltype):
        # Other drivers already return naive datetimes: no Python call per value read.
        return super().result_processor(dialect, coltype) if dialect.name == "sqlite" else None

    def process_result_value(self, value, dialect):
        if isinstance(value, str):  # raw SQLite text from a hand-written query
            value = datetime.fromisoformat(value)
        return value


class PreciseLocalDateTime(LocalDateTime):
    """A LocalDateTime keeping microseconds: when a run started and finished, so that its duration
    is what it took (whole seconds made every run under a second last 0)."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        micro = value.microsecond
        return to_local(value).replace(microsecond=micro)
