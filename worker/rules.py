"""Deadline rules from ``config/rules.yaml`` and the vectorized deadline computation."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from .calendar import WorkCalendar
from .config import ConfigError, load_settings, read_yaml

SECONDS_TO_END_OF_DAY = np.timedelta64(23 * 3600 + 59 * 60 + 59, "s")


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    reply_working_days: int | None
    completion_working_days: int


@dataclass(frozen=True)
class Rules:
    channels: dict[str, Channel]
    urgent_reply_hours: dict[str, int]
    urgent_labels: dict[str, str]
    return_window_working_days: int
    extension_max_working_days: int
    extension_requires_consent: bool
    plan_max_calendar_days: int
    ownership_dispute_hours: int
    response_hours: int

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            raise ConfigError(f"unknown source channel {name!r}; known: {', '.join(self.channels)}") from None


def _int(data: dict, key: str, where: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a whole number of days or hours, got {value!r}")
    return value


def _optional_int(data: dict, key: str, where: str) -> int | None:
    return None if data.get(key) is None else _int(data, key, where)


def load_rules(path: Path | str | None = None) -> Rules:
    path = Path(path) if path else load_settings().config_dir / "rules.yaml"
    data = read_yaml(path)
    where = str(path)
    channels = {}
    for name, spec in (data.get("channels") or {}).items():
        w = f"{where}: channels.{name}"
        channels[name] = Channel(name, spec.get("label", name), _optional_int(spec, "reply_working_days", w),
                                 _int(spec, "completion_working_days", w))
    if not channels:
        raise ConfigError(f"{where}: 'channels' is empty")
    urgent = data.get("urgent_kinds") or {}
    ext = data.get("extension") or {}
    return Rules(
        channels=channels,
        urgent_reply_hours={k: _int(v, "reply_hours", f"{where}: urgent_kinds.{k}") for k, v in urgent.items()},
        urgent_labels={k: v.get("label", k) for k, v in urgent.items()},
        return_window_working_days=_int(data, "return_window_working_days", where),
        extension_max_working_days=_int(ext, "max_working_days", f"{where}: extension"),
        extension_requires_consent=bool(ext.get("requires_consent", True)),
        plan_max_calendar_days=_int(data.get("plan") or {}, "max_calendar_days", f"{where}: plan"),
        ownership_dispute_hours=_int(data, "ownership_dispute_hours", where),
        response_hours=_int(data, "response_hours", where),
    )


@dataclass
class DeadlineInput:
    """Columns for a batch of assignments (numpy arrays of equal length)."""
    dispatched: np.ndarray       # datetime64[s]
    clock_start: np.ndarray      # datetime64[s]: dispatch, or the last redo
    source: np.ndarray           # object (channel names)
    urgent_kind: np.ndarray      # object (None or kind)
    extended_days: np.ndarray    # int
    plan_date: np.ndarray        # datetime64[D], NaT when no plan


def _codes(values: np.ndarray, names: list[str]) -> np.ndarray:
    """Each value's index in NAMES, -1 where it is none of them (or None).  One vectorised pass per
    name (None counts as one) over the rows not matched yet, the most frequent first (counted on a
    sample): a few C loops over the column instead of a Python step per row."""
    codes = np.full(len(values), -1, np.int64)
    rest = None   # the rows not matched yet; None: all of them
    sample = values[:1024].tolist()
    for name in sorted([*names, None], key=lambda name: -sample.count(name)):
        hit = (values if rest is None else values[rest]) == name
        if name is not None:
            codes[hit if rest is None else rest[hit]] = names.index(name)
        rest = np.flatnonzero(~hit) if rest is None else rest[~hit]
        if not len(rest):
            break
    return codes


def compute_deadlines(cal: WorkCalendar, rules: Rules, inp: DeadlineInput) -> dict[str, np.ndarray]:
    """Reply due, completion due and end of the return window for every row, as datetime64[s].

    Days stay table ordinals (int64) until the end, where each becomes the last second of its day."""
    n = len(inp.dispatched)
    names = list(rules.channels)
    idx = _codes(inp.source, names)
    if (idx < 0).any():
        rules.channel(inp.source[int(np.flatnonzero(idx < 0)[0])])   # raises, naming the channel
    completion_n = np.array([rules.channels[c].completion_working_days for c in names], np.int64)[idx]
    reply_n = np.array([rules.channels[c].reply_working_days or -1 for c in names], np.int64)[idx]

    last_second = cal.origin_day * 86400 + int(SECONDS_TO_END_OF_DAY / np.timedelta64(1, "s"))

    def eod(ords: np.ndarray) -> np.ndarray:
        out = ords * 86400
        out += last_second
        return out.view("datetime64[s]")

    dispatch_ord = cal.ordinals(inp.dispatched)
    start_ord = dispatch_ord if inp.clock_start is inp.dispatched else cal.ordinals(inp.clock_start)
    if inp.extended_days.any():
        # The one place the extension cap (延期 at most N working days in all) is applied.
        completion_n = completion_n + np.clip(inp.extended_days, 0, rules.extension_max_working_days)
    completion = eod(cal.add_working_days_ords(start_ord, completion_n))
    has_plan = ~np.isnat(inp.plan_date)
    if has_plan.any():
        latest_plan = inp.dispatched.astype("datetime64[D]") + np.timedelta64(rules.plan_max_calendar_days, "D")
        plan = np.minimum(inp.plan_date.astype("datetime64[D]"), latest_plan)
        completion = np.where(has_plan, np.where(has_plan, plan, latest_plan).astype("datetime64[s]")
                              + SECONDS_TO_END_OF_DAY, completion)

    reply = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    has_reply = reply_n >= 0
    if has_reply.any():
        reply[has_reply] = eod(cal.add_working_days_ords(dispatch_ord[has_reply], reply_n[has_reply]))
    kinds = list(rules.urgent_reply_hours)
    urgent_hours = np.array([*rules.urgent_reply_hours.values(), -1], np.int64)[_codes(inp.urgent_kind, kinds)]
    is_urgent = urgent_hours >= 0
    if is_urgent.any():
        urgent_due = inp.dispatched + urgent_hours * np.timedelta64(3600, "s")
        reply = np.where(is_urgent & (np.isnat(reply) | (urgent_due < reply)), urgent_due, reply)

    return_until = eod(cal.add_working_days_ords(dispatch_ord, rules.return_window_working_days))
    return {"reply_due": reply, "completion_due": completion, "return_until": return_until}


def deadlines_for(cal: WorkCalendar, rules: Rules, dispatched: datetime, source: str,
                  urgent_kind: str | None = None, extended_days: int = 0, plan_date: date | None = None,
                  clock_start: datetime | None = None) -> dict[str, datetime | None]:
    """The scalar form, for the CLI and for reading: one dispatch → its due times."""
    if urgent_kind and urgent_kind not in rules.urgent_reply_hours:
        raise ConfigError(f"unknown urgent kind {urgent_kind!r}; known: {', '.join(rules.urgent_reply_hours)}")
    rules.channel(source)
    inp = DeadlineInput(
        dispatched=np.array([dispatched], dtype="datetime64[s]"),
        clock_start=np.array([clock_start or dispatched], dtype="datetime64[s]"),
        source=np.array([source], dtype=object), urgent_kind=np.array([urgent_kind], dtype=object),
        extended_days=np.array([extended_days], dtype=np.int64),
        plan_date=np.array([plan_date or "NaT"], dtype="datetime64[D]"))
    out = compute_deadlines(cal, rules, inp)
    return {k: (None if np.isnat(v[0]) else v[0].astype(datetime)) for k, v in out.items()}

