"""Per-unit metrics for a period, counted in the database (one grouped query per clock).

Definitions (DOMAIN.md "Metrics"; every rate is returned with numerator and denominator), all
counted in one grouped range scan over the period's ``assignment_clocks`` rows (one row per
assignment and clock, derived with the assignments):

- counted dispatch: an assignment not returned inside the return window (a mis-routed dispatch
  counts only in the unit's return rate);
- 受理量 volume and 响应率 response rate: counted dispatches by dispatch time; responded means
  signed within ``response_hours`` of dispatch;
- 解决率 / 满意率: counted assignments by the time of their last callback (the final evaluation):
  解决 ÷ (解决 + 未解决), (满意 + 基本满意) ÷ evaluated; 初次解决率 / 初次满意率 the same over
  each assignment's first callback, by its time (an unsatisfied callback that led to a redo
  counts there); ``dual_rates`` in ``config/metrics.yaml`` (final | first) says which pair is
  the 双率 that ranks units and feeds the ladder;
- 超期率: counted assignments by completion due inside the period: finished after due, or still
  unfinished at the end of the period (or at ``as_of`` if earlier) ÷ those due;
- 重办率: by first reply time: assignments with a redo ÷ replied;
- 回退率: all dispatches by dispatch time: returned ÷ dispatched; ``returned_twice``: tickets
  returned two or more times that this unit returned (once per ticket, by the dispatch it
  returned; the unit that finally accepts the ticket is not charged — seed 004's deduction item
  同一事项回退 2 次以上); ``late_returns``: returns made after the return window, by return time.

A rate whose denominator is 0 is ``n/a`` (``Rate.value is None``), never 0 % or 100 %.
Ranking: only units with at least one of the 双率 assessable are ranked; composite score (weights
from ``config/metrics.yaml``, re-normalised over the rates that are not n/a), ties broken by
解决率, 满意率, volume, then unit code — so the order is total.  A unit whose 双率 are both n/a
(no evaluated callback) is not ranked: it follows the ranking, listed as 无回访评价, and "bottom
N" counts ranked units only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import false, func, or_, select, true
from sqlalchemy.orm import Session

from .asof import view
from .config import policy
from .models import CLOCK_FLAGS, Assignment, Clock, ClockDay, Escalation, EscalationState, Unit
from .models import AssignmentClock as C
from .periods import Period
from .policy_schema import Adjustment, Metrics, Requirement, Weights


@dataclass(frozen=True)
class Rate:
    num: int
    den: int

    @property
    def value(self) -> float | None:
        return None if self.den == 0 else self.num / self.den

    def pct(self) -> str:
        return "n/a" if self.den == 0 else f"{100 * self.num / self.den:.2f}%"

    def __str__(self) -> str:
        return "n/a (no data)" if self.den == 0 else f"{self.pct()} ({self.num}/{self.den})"


@dataclass
class UnitMetrics:
    unit_code: str
    unit_name: str
    unit_kind: str
    volume: int = 0
    dispatches: int = 0
    response: Rate = Rate(0, 0)
    resolution: Rate = Rate(0, 0)
    satisfaction: Rate = Rate(0, 0)
    first_resolution: Rate = Rate(0, 0)
    first_satisfaction: Rate = Rate(0, 0)
    overdue: Rate = Rate(0, 0)
    redo: Rate = Rate(0, 0)
    returns: Rate = Rate(0, 0)
    returned_twice: int = 0
    late_returns: int = 0
    escalations: dict = field(default_factory=dict)   # ladder tier → notices fired in the period
    adjustments: list = field(default_factory=list)   # (item, count, points): 扣分项 / 加分项 applied
    score: float | None = None
    assessed: float | None = None          # 考核得分: the score with the adjustments, out of 1
    rank: int | None = None
    meets_requirement: bool | None = None  # None: not assessable (n/a)
    bottom: bool = False
    failing: bool = False
    no_callbacks: bool = False             # had volume but no evaluated callback at all
    dual_pair: str = "final"               # which callbacks the 双率 are: final | first

    @property
    def dual_resolution(self) -> Rate:
        """The 解决率 of the 双率 (final or first callbacks, per ``dual_rates``)."""
        return self.first_resolution if self.dual_pair == "first" else self.resolution

    @property
    def dual_satisfaction(self) -> Rate:
        return self.first_satisfaction if self.dual_pair == "first" else self.satisfaction

    @property
    def ranked(self) -> bool:
        return self.rank is not None

    @property
    def timeliness(self) -> Rate:
        """按期办结率: due in the period and finished by the due time (the complement of 超期率)."""
        return Rate(self.overdue.den - self.overdue.num, self.overdue.den)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if not isinstance(v, Rate)}
        out.update({k: {"num": v.num, "den": v.den, "value": v.value} for k, v in self.__dict__.items()
                    if isinstance(v, Rate)})
        return out


@dataclass
class PeriodMetrics:
    period: Period
    units: list[UnitMetrics] = field(default_factory=list)  # in rank order
    requirement: Requirement = field(default_factory=Requirement)

    def by_code(self) -> dict[str, UnitMetrics]:
        return {u.unit_code: u for u in self.units}

    @property
    def failing(self) -> list[UnitMetrics]:
        return [u for u in self.units if u.failing]

    @property
    def ranked(self) -> list[UnitMetrics]:
        return [u for u in self.units if u.rank is not None]

    @property
    def unranked(self) -> list[UnitMetrics]:
        """Units with volume or returns but no assessable 双率: listed after the ranking (无回访评价)."""
        return [u for u in self.units if u.rank is None]

    def total(self, attr: str) -> Rate:
        return Rate(sum(getattr(u, attr).num for u in self.units), sum(getattr(u, attr).den for u in self.units))

    @property
    def volume(self) -> int:
        return sum(u.volume for u in self.units)


# The district totals a period analysis compares (环比 with the period before, 同比 with the same
# period a year before): a count, or a rate.
COMPARED = (("交办工单（件）", "tickets"), ("满意率", "satisfaction"), ("解决率", "resolution"),
            ("超期率", "overdue"), ("重办率", "redo"), ("回退率", "returns"))


def comparison(now: PeriodMetrics, previous: PeriodMetrics | None, year_before: PeriodMetrics | None,
               tickets: dict[str, int] | None = None) -> list[dict]:
    """One row per compared figure: its value now, the period before and a year before.  A period
    left out (None: its data is incomplete, see ``comparable``) shows None ("—" in documents), as
    does a count with no dispatch at all.  ``tickets``: each period's ticket count by period key
    (``period_volume``); without it the count row is the volume."""
    def value(m, attr):
        if m is None:
            return None
        if attr == "tickets":
            if not any(u.dispatches for u in m.units):
                return None
            return tickets[m.period.key] if tickets else m.volume
        return m.total(attr)
    return [{"label": label, "now": value(now, attr), "previous": value(previous, attr),
             "year_before": value(year_before, attr)} for label, attr in COMPARED]


# -- data coverage (DOMAIN.md "Partial periods") ---------------------------------------------------
def data_start(session: Session) -> date | None:
    """The first day with data: the day of the first dispatch in the database (the service was
    switched on, or the history imported, from then).  Every period before it has no data; the
    period it falls in, from its second day on, has data from then only."""
    first = session.scalar(select(func.min(Assignment.dispatched_at)))
    return first.date() if first else None


def partial_first_period(session: Session, period: Period) -> bool:
    """True when the data begins after the period's first day (the service was switched on, or
    the history imported, part-way through it)."""
    first = data_start(session)
    return first is not None and first > period.start


@dataclass(frozen=True)
class DataCoverage:
    """The days of a period its figures cover: from the later of the period's start and the data's
    start (``data_start``) to its last day (a period document is made once its period has ended).
    ``complete`` when that is the whole period; no comparison is made with an incomplete one."""
    period: Period
    data_from: date | None    # the first day with data in the database
    first: date | None        # None: no day of the period has data

    @property
    def complete(self) -> bool:
        return self.first == self.period.start

    @property
    def days(self) -> int:
        return (self.period.end - self.first).days if self.first else 0

    def note(self) -> str:
        """What an incomplete period's document says of the days it covers ("" when complete)."""
        if self.complete:
            return ""
        if self.first is None:
            return f"本期（{self.period.label()}）无数据。"
        last, whole = self.period.last_day, (self.period.end - self.period.start).days
        until = f"{last.month}月{last.day}日" if last.year == self.first.year else f"{last.year}年{last.month}月{last.day}日"
        return (f"系统数据自{self.first.year}年{self.first.month}月{self.first.day}日起，本期统计范围为"
                f"{self.first.month}月{self.first.day}日至{until}，共{self.days}天（全期{whole}天），数据不完整。")


def data_coverage(session: Session, period: Period, first: date | None = None) -> DataCoverage:
    """Which days of ``period`` have data (``first``: the data's start, when already known)."""
    first = first if first is not None else data_start(session)
    if first is None or first > period.last_day:
        return DataCoverage(period, first, None)
    return DataCoverage(period, first, max(first, period.start))


def incomparable(now: DataCoverage, before: DataCoverage, before_count: int, then: str) -> str | None:
    """Why a figure of ``now`` is not compared with ``then`` (上月, 去年同期…): that period has no
    data (no day covered, or nothing counted: ``before_count``) or incomplete data, or this one is
    incomplete; None when they compare."""
    if before.first is None or before_count == 0:
        return f"{then}无数据"
    if not before.complete:
        return f"{then}数据不完整"
    if not now.complete:
        return "本期数据不完整"
    return None


# What each clock's grouped counts become: attribute of UnitMetrics ← (numerator, denominator).
_RATES = {
    Clock.DISPATCHED: {"response": ("responded", "counted"), "returns": ("returned", "rows")},
    Clock.CALLBACK: {"resolution": ("resolved", "judged"), "satisfaction": ("satisfied", "evaluated")},
    Clock.FIRST_CALLBACK: {"first_resolution": ("resolved", "judged"), "first_satisfaction": ("satisfied", "evaluated")},
    Clock.COMPLETION_DUE: {"overdue": ("late", "rows")},
    Clock.FIRST_REPLIED: {"redo": ("redone", "rows")},
    Clock.RETURNED: {},
}


def compute(session: Session, period: Period, as_of: datetime | None = None, cfg: Metrics | None = None,
            categories: set[str] | None = None) -> PeriodMetrics:
    """All ranked units' metrics for a period: one grouped range scan over the clock rows.

    ``categories``: only tickets of these 事项编码 and their sub-codes (the law-enforcement
    reports); the same clocks as every other document."""
    cfg = cfg or policy.metrics()
    cutoff = min(period.end_at, as_of) if as_of else period.end_at
    units = {u.code: UnitMetrics(u.code, u.name, u.kind, dual_pair=cfg.dual_rates) for u in session.scalars(
        select(Unit).where(Unit.kind.in_(cfg.ranked_unit_kinds), Unit.active.is_(True)).order_by(Unit.code))}

    v = view(session, cutoff)
    if categories is None and period.start_at.time() == time(0) and cutoff.time() == time(0):
        # Whole days, all categories: the per-day rollup kept with the clock rows.
        D = ClockDay
        rows = session.execute(
            select(D.unit_code, D.clock, func.sum(D.rows), *(func.sum(getattr(D, f)) for f in CLOCK_FLAGS))
            .where(D.day >= period.start_at.date(), D.day < cutoff.date())
            .group_by(D.unit_code, D.clock))
    else:
        C = v.C
        where = [C.at >= period.start_at, C.at < cutoff]
        if categories is not None:
            where.append(or_(false(), *[C.category_code.startswith(c, autoescape=True) for c in sorted(categories)]))
        rows = session.execute(
            select(C.unit_code, C.clock, func.count(), *(func.sum(getattr(C, f)) for f in CLOCK_FLAGS))
            .where(*where)
            .group_by(C.unit_code, C.clock))
    for code, clock, n, *sums in rows:
        m = units.get(code)
        if m is None:
            continue
        counts = {"rows": int(n)} | {f: int(v or 0) for f, v in zip(CLOCK_FLAGS, sums, strict=True)}
        for attr, (num, den) in _RATES[Clock(clock)].items():
            setattr(m, attr, Rate(counts[num], counts[den]))
        if clock == Clock.DISPATCHED:
            m.dispatches, m.volume, m.returned_twice = n, counts["counted"], counts["returned_twice"]
        elif clock == Clock.RETURNED:
            m.late_returns = counts["late"]
    for code, tier, n in session.execute(
            select(Escalation.unit_code, Escalation.tier, func.count())
            .where(Escalation.fired_at >= period.start_at, Escalation.fired_at < cutoff,
                   Escalation.state == EscalationState.ISSUED.value)
            .group_by(Escalation.unit_code, Escalation.tier)):
        if code in units:
            units[code].escalations[tier] = int(n)

    result = PeriodMetrics(period, list(units.values()), cfg.requirement)
    rank(result, cfg)
    return result


_WEIGHTED = {"response_rate": "response", "resolution_rate": "dual_resolution",
             "satisfaction_rate": "dual_satisfaction", "timeliness_rate": "timeliness"}


def score(m: UnitMetrics, weights: Weights) -> float | None:
    """The weighted mean of the rates named in ``weights`` that are not n/a (re-normalised)."""
    parts = [(w, getattr(m, _WEIGHTED[name]).value) for name, w in weights.given().items()]
    parts = [(w, v) for w, v in parts if v is not None]
    total = sum(w for w, _ in parts)
    return None if not parts or total == 0 else sum(w * v for w, v in parts) / total


def adjustments(m: UnitMetrics, items: list[Adjustment]) -> list[tuple[str, int, float]]:
    """The 扣分项 / 加分项 (seed 004) of config/metrics.yaml ``adjustments`` that apply to a unit in
    the period: (item, occurrences, points), points out of 100 (negative for a deduction) per
    occurrence.  ``count`` names what is counted: ``returned_twice`` (tickets returned two or more
    times, charged to each returning unit), ``late_returns`` (returns after the window), or
    ``escalations`` (ladder notices of the listed ``tiers`` fired in the period)."""
    out = []
    for item in items:
        n = (sum(m.escalations.get(tier, 0) for tier in item.tiers) if item.count == "escalations"
             else int(getattr(m, item.count)))
        if n:
            out.append((item.name, n, n * item.points))
    return out


def bottom_count(cfg: Metrics, n_ranked: int) -> int:
    bottom = cfg.bottom
    if bottom.mode == "percent":
        return math.ceil(n_ranked * bottom.value / 100)
    return min(int(bottom.value), n_ranked)


def rank(result: PeriodMetrics, cfg: Metrics) -> None:
    """Score, order, and mark the units meeting the requirement, in the bottom, and failing.

    Only units with an assessable 双率 are scored and ranked; the others follow in code order."""
    weights, req, min_callbacks = cfg.weights, cfg.requirement, cfg.min_callbacks_to_fail
    for m in result.units:
        m.adjustments = adjustments(m, cfg.adjustments)
        res, sat = m.dual_resolution.value, m.dual_satisfaction.value
        m.no_callbacks = m.volume > 0 and m.dual_satisfaction.den == 0 and m.dual_resolution.den == 0
        if res is None and sat is None:
            m.meets_requirement, m.score = None, None
        else:
            m.meets_requirement = (res is None or res >= req.resolution_rate) and \
                                  (sat is None or sat >= req.satisfaction_rate)
            m.score = score(m, weights)
            m.assessed = None if m.score is None else m.score + sum(points for _, _, points in m.adjustments) / 100

    def key(m: UnitMetrics):
        if m.score is None:
            return (1, 0, 0, 0, 0, m.unit_code)
        return (0, -m.score, -(m.dual_resolution.value or 0), -(m.dual_satisfaction.value or 0), -m.volume,
                m.unit_code)

    result.units.sort(key=key)
    scored = [m for m in result.units if m.score is not None]
    for i, m in enumerate(scored, 1):
        m.rank = i
    n_bottom = bottom_count(cfg, len(scored))
    for m in scored[len(scored) - n_bottom:] if n_bottom else []:
        m.bottom = True
    for m in result.units:
        evaluated = max(m.dual_satisfaction.den, m.dual_resolution.den)
        m.failing = bool(m.bottom and m.meets_requirement is False and evaluated >= min_callbacks)


@dataclass(frozen=True)
class Volume:
    """工单 and 交办: the tickets dispatched in a period (each once, however often dispatched) and
    the dispatches (件次) — counted dispatches by dispatch time, as a unit's volume is (a dispatch
    returned inside the return window does not count; a ticket returned late and dispatched again
    counts once as a ticket and twice as dispatches)."""
    tickets: int = 0
    dispatches: int = 0


def _in(categories: set[str] | None):
    if categories is None:
        return true()
    return or_(false(), *[C.category_code.startswith(c, autoescape=True) for c in sorted(categories)])


def category_volumes(session: Session, period: Period, categories: set[str] | None = None) -> dict[str, Volume]:
    """Per 事项编码 (only those among ``categories`` and their sub-codes, if given): its ``Volume`` in
    the period.  The one count of a category's tickets: the monthly analysis's 重点领域 and the
    law-enforcement reports read it alike, so a category's figure is the same in both."""
    view(session, period.end_at)   # the rows as they stood at the period's end
    rows = session.execute(
        select(C.category_code, func.count(func.distinct(C.ticket_id)), func.count())
        .where(C.at >= period.start_at, C.at < period.end_at, C.clock == Clock.DISPATCHED, C.counted == 1,
               _in(categories))
        .group_by(C.category_code))
    return {code: Volume(int(n), int(d)) for code, n, d in rows}


def period_volume(session: Session, period: Period, categories: set[str] | None = None) -> Volume:
    """The district's ``Volume`` in the period (a ticket whose category changed counts once)."""
    view(session, period.end_at)   # the rows as they stood at the period's end
    n, d = session.execute(
        select(func.count(func.distinct(C.ticket_id)), func.count())
        .where(C.at >= period.start_at, C.at < period.end_at, C.clock == Clock.DISPATCHED, C.counted == 1,
               _in(categories))).one()
    return Volume(int(n), int(d))


def category_rates(session: Session, period: Period, categories: set[str]) -> list[dict]:
    """Per 事项编码 among ``categories`` (sub-codes included): its tickets and dispatches
    (``category_volumes``), 满意率 and 解决率 by callback time, 超期率 by due time — the period's
    clock rows, grouped."""
    view(session, period.end_at)   # the rows as they stood at the period's end
    out = {code: {"code": code, "tickets": v.tickets, "dispatches": v.dispatches, "satisfaction": Rate(0, 0),
                  "resolution": Rate(0, 0), "overdue": Rate(0, 0)}
           for code, v in category_volumes(session, period, categories).items()}
    rows = session.execute(select(C.category_code, C.clock, func.count(), func.sum(C.satisfied),
                                  func.sum(C.evaluated), func.sum(C.resolved), func.sum(C.judged), func.sum(C.late))
                           .where(C.at >= period.start_at, C.at < period.end_at, _in(categories),
                                  C.clock.in_((Clock.CALLBACK, Clock.COMPLETION_DUE)))
                           .group_by(C.category_code, C.clock))
    for code, clock, n, sat, evaluated, res, judged, late in rows:
        c = out.setdefault(code, {"code": code, "tickets": 0, "dispatches": 0, "satisfaction": Rate(0, 0),
                                  "resolution": Rate(0, 0), "overdue": Rate(0, 0)})
        if clock == Clock.CALLBACK:
            c["satisfaction"], c["resolution"] = Rate(int(sat or 0), int(evaluated or 0)), Rate(int(res or 0), int(judged or 0))
        else:
            c["overdue"] = Rate(int(late or 0), int(n))
    return list(out.values())


def unit_category_volumes(session: Session, period: Period, categories: set[str]) -> dict[str, list[tuple[str, int]]]:
    """Per unit, its volume (by dispatch, counted dispatches) per 事项编码 among ``categories``,
    largest first: the law-enforcement reports' breakdown by department and problem type."""
    view(session, period.end_at)
    rows = session.execute(
        select(C.unit_code, C.category_code, func.sum(C.counted))
        .where(C.at >= period.start_at, C.at < period.end_at, C.clock == Clock.DISPATCHED,
               or_(false(), *[C.category_code.startswith(c, autoescape=True) for c in sorted(categories)]))
        .group_by(C.unit_code, C.category_code))
    out: dict[str, list[tuple[str, int]]] = {}
    for unit, code, n in rows:
        if n:
            out.setdefault(unit, []).append((code, int(n)))
    return {unit: sorted(pairs, key=lambda p: (-p[1], p[0])) for unit, pairs in out.items()}


def hot_categories(session: Session, period: Period, top: int, by: str = "volume", previous: Period | None = None) -> list[dict]:
    """Key areas (重点领域): the top categories by tickets; or, ``by="growth"``, the hot spots
    rising fastest against ``previous`` (by the increase in tickets, then by tickets).  Without
    ``previous`` (its data incomplete: no comparison) there is no growth: ``previous`` and
    ``growth`` are None and nothing is rising."""
    from .models import Category

    names = dict(session.execute(select(Category.code, Category.name)).all())
    now = category_volumes(session, period)
    before = category_volumes(session, previous) if previous is not None else {}
    rows = [(c, now.get(c, Volume()).tickets, before.get(c, Volume()).tickets) for c in sorted(set(now) | set(before))]
    if by == "growth":
        if previous is None:
            return []
        rows = [r for r in rows if r[1] > r[2]]
        rows.sort(key=lambda r: (-(r[1] - r[2]), -r[1], r[0]))
    else:
        rows = [r for r in rows if r[1] > 0]
        rows.sort(key=lambda r: (-r[1], -(r[1] - r[2]), r[0]))
    return [{"code": c, "name": names.get(c, c), "volume": v, "previous": p if previous is not None else None,
             "growth": None if previous is None or p == 0 else (v - p) / p} for c, v, p in rows[:top]]


def trend(session: Session, period: Period, count: int, cfg: Metrics | None = None) -> list[PeriodMetrics]:
    """The same metrics for this period and the ``count - 1`` before it, oldest first."""
    periods = [period]
    for _ in range(count - 1):
        periods.append(periods[-1].previous())
    return [compute(session, p, cfg=cfg) for p in reversed(periods)]
