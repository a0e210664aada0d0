"""One ladder per unit (DOMAIN.md "One ladder per unit"): one state machine over the weekly and the
monthly evaluations, and the one query every document asks of it (``ladder_at``).

- Weekly tiers (``after: {weeks: N}``: 约谈 by the leader in charge, by the principal leader) follow
  runs of consecutive failing weeks: a passing week ends the run, a new run may reach them again.
- Monthly tiers (``after: {months: N}``: 人大质询, 常务会议说明) follow runs of consecutive failing
  months: a tier stays in force until the unit passes a whole month.  ``requires: NAME`` fires a
  tier only while NAME, issued at an earlier evaluation of the same run, is in force, and the new
  notice cites it (``Escalation.cites_id``).
- While a monthly tier is in force no weekly tier is issued: the ledger records it as superseded
  (已在更高层级), and it does not fire later in the same run.
- Each tier once per run; the ladder climbs at most one tier per evaluation (the highest reached,
  unless it or a higher one was already reached in the run); and at most one tier per unit per
  evaluation day — the highest.  So a week and a month ending together are evaluated together:
  whichever job runs first that day evaluates both (``periods_due``), the other finds them done.

A document of moment T states the ladder as of T (``ladder_at``): the periods evaluated by T, the
tiers issued by T.  Tiers issued by an older release stay as they were.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .calendar import UnknownYearError
from .escalation import ensure_results, tier_label, tiers
from .models import Document, Escalation, EscalationState, LadderEvaluation, WeekResult
from .periods import Period, containing, parse_key
from .policy_schema import Tier as TierSpec

ISSUED, SUPERSEDED = EscalationState.ISSUED.value, EscalationState.SUPERSEDED.value
KIND_OF = {"week": "weeks", "month": "months"}
HISTORY = {"weeks": 26, "months": 12}   # how far back a run is followed


@dataclass(frozen=True)
class Tier:
    name: str
    label: str
    unit: str          # weeks | months
    after: int
    order: int         # its place in config/escalation.yaml: later is higher
    requires: str | None
    spec: TierSpec     # the whole entry (title, decision, recipients…)


def ladder_tiers() -> list[Tier]:
    out = []
    for i, t in enumerate(tiers()):
        unit, after = next(iter(t.after.items()))
        out.append(Tier(t.name, tier_label(t), unit, after, i, t.requires, t))
    return out


@dataclass
class Fired:
    """A tier issued by an evaluation: what its notice needs."""
    escalation_id: int
    unit_code: str
    tier: TierSpec
    run_started: str
    streak: int
    history: list[WeekResult]
    period: Period
    cites: Escalation | None


@dataclass
class UnitLadder:
    """A unit's place on the ladder at a moment."""
    unit_code: str
    weekly_streak: int = 0
    run_started: str | None = None           # first failing week of the current weekly run
    monthly_streak: int = 0
    monthly_run_started: str | None = None   # first failing month of the current monthly run
    tier: Tier | None = None                 # the highest tier in force
    tier_fired_at: datetime | None = None
    tier_escalation_id: int | None = None
    next_week: Tier | None = None            # what one more failing week would bring
    next_month: Tier | None = None           # what one more failing month would bring

    @property
    def next_step(self) -> str | None:
        """What the next failing period would bring, in words (提前预警), or None."""
        if self.next_week:
            return self.next_week.label
        if self.next_month:
            return self.next_month.label
        return None

    @property
    def active(self) -> bool:
        """On the ladder at all: failing now, or a tier in force."""
        return bool(self.weekly_streak or self.monthly_streak or self.tier)


def _streak(failing: dict[str, bool], anchor: Period | None) -> tuple[int, str | None]:
    """Consecutive failing periods ending at ``anchor``, and the key of the first."""
    n, p, first = 0, anchor, None
    while p is not None and failing.get(p.key):
        n, first, p = n + 1, p.key, p.previous()
    return n, first


def _anchor(session: Session, kind: str, at: datetime) -> Period | None:
    """The latest period of this kind the ladder had evaluated by ``at``."""
    keys = session.scalars(select(LadderEvaluation.period_key).where(LadderEvaluation.evaluated_at <= at)).all()
    periods = [parse_key(k) for k in keys]
    periods = [p for p in periods if p.kind == kind]
    return max(periods, key=lambda p: p.start) if periods else None


def _results(session: Session, kind: str, anchor: Period | None, units=None) -> dict[str, dict[str, bool]]:
    if anchor is None:
        return {}
    keys, p = [], anchor
    for _ in range(HISTORY[KIND_OF[kind]]):
        keys.append(p.key)
        p = p.previous()
    q = select(WeekResult.unit_code, WeekResult.period_key, WeekResult.failing).where(WeekResult.period_key.in_(keys))
    if units is not None:
        q = q.where(WeekResult.unit_code.in_(list(units)))
    out: dict[str, dict[str, bool]] = {}
    for unit, key, failing in session.execute(q):
        out.setdefault(unit, {})[key] = bool(failing)
    return out


def _escalations(session: Session, at: datetime | None = None, units=None) -> dict[str, list[Escalation]]:
    q = select(Escalation).order_by(Escalation.fired_at, Escalation.id)
    if at is not None:
        q = q.where(Escalation.fired_at <= at)
    if units is not None:
        q = q.where(Escalation.unit_code.in_(list(units)))
    out: dict[str, list[Escalation]] = {}
    for e in session.scalars(q):
        out.setdefault(e.unit_code, []).append(e)
    return out


def _next(ladder: list[Tier], unit: str, streak: int, recorded: set[str], in_force: set[str]) -> Tier | None:
    """The tier of this unit kind one more failing period would bring, if any."""
    reached = [t for t in ladder if t.unit == unit and streak + 1 >= t.after
               and (not t.requires or t.requires in in_force)]
    if not reached:
        return None
    top = reached[-1]
    if top.name in recorded or any(t.order > top.order and t.name in recorded for t in ladder if t.unit == unit):
        return None
    return top


def ladder_at(session: Session, at: datetime, units=None) -> dict[str, UnitLadder]:
    """Every unit's (or these ``units``') place on the ladder as of ``at``: the runs of failing
    weeks and months up to the periods evaluated by then, the highest tier in force, and what the
    next failing week or month would bring.  The one source of every statement of the ladder."""
    ladder = ladder_tiers()
    by_name = {t.name: t for t in ladder}
    week_anchor, month_anchor = _anchor(session, "week", at), _anchor(session, "month", at)
    weeks, months = _results(session, "week", week_anchor, units), _results(session, "month", month_anchor, units)
    fired = _escalations(session, at, units)
    out: dict[str, UnitLadder] = {}
    for unit in sorted(set(weeks) | set(months) | set(fired)):
        st = UnitLadder(unit)
        st.weekly_streak, st.run_started = _streak(weeks.get(unit, {}), week_anchor)
        st.monthly_streak, st.monthly_run_started = _streak(months.get(unit, {}), month_anchor)
        runs = {"weeks": st.run_started, "months": st.monthly_run_started}
        current = [e for e in fired.get(unit, []) if e.tier in by_name
                   and e.run_started == runs[by_name[e.tier].unit]]
        issued = [e for e in current if e.state == ISSUED]
        if issued:
            top = max(issued, key=lambda e: by_name[e.tier].order)
            st.tier, st.tier_fired_at, st.tier_escalation_id = by_name[top.tier], top.fired_at, top.id
        monthly_in_force = {e.tier for e in issued if by_name[e.tier].unit == "months"}
        recorded = {e.tier for e in current}
        if not monthly_in_force and st.weekly_streak:
            st.next_week = _next(ladder, "weeks", st.weekly_streak, recorded, set())
        st.next_month = _next(ladder, "months", st.monthly_streak, recorded, monthly_in_force) \
            if st.monthly_streak else None
        out[unit] = st
    return out


def evaluation_day(cal, period: Period) -> date:
    """The day a period is evaluated: the first working day on or after its end (the weekly and the
    monthly schedules both fire then).  Tiers are ordered and counted per evaluation day, whenever a
    run actually happens (a catch-up, a person's re-run)."""
    try:
        return cal.next_workday(period.end)
    except UnknownYearError:
        return period.end


def periods_due(session: Session, cal, period: Period) -> list[Period]:
    """The periods an evaluation of ``period`` takes: the job's own, and a period of the other kind
    evaluated the same day and not evaluated yet (a week and a month that end together — 1 Nov 2026,
    or 30 Sep and 4 Oct across 国庆 — are one evaluation day)."""
    kinds = {t.unit for t in ladder_tiers()}
    out = [period] if KIND_OF.get(period.kind) in kinds else []
    other = "month" if period.kind == "week" else "week"
    if KIND_OF[other] not in kinds:
        return out
    day = evaluation_day(cal, period)
    near = containing(other, period.last_day)
    for q in (near.previous(), near, containing(other, period.end)):
        if q.end_at <= period.end_at + timedelta(days=7) and evaluation_day(cal, q) == day and q not in out \
                and session.get(LadderEvaluation, q.key) is None:
            out.append(q)
    return out


def evaluate(session: Session, cal, period: Period, at: datetime) -> list[Fired]:
    """Evaluate ``period`` (and the other kind's, per ``periods_due``) at moment ``at``: store each
    unit's result, then issue at most one tier per unit and evaluation day (the highest), recording
    the tiers it supersedes.  Idempotent: evaluating again changes nothing."""
    ladder = ladder_tiers()
    by_name = {t.name: t for t in ladder}
    due = periods_due(session, cal, period)
    day = evaluation_day(cal, period)
    eval_day = lambda e: evaluation_day(cal, parse_key(e.period_key))
    state: dict[str, dict] = {}
    for p in due:
        unit = KIND_OF[p.kind]
        depth = max((t.after for t in ladder if t.unit == unit), default=0)
        ensure_results(session, p, depth + 1)
        if session.get(LadderEvaluation, p.key) is None:
            session.add(LadderEvaluation(period_key=p.key, evaluated_at=at))
        for code, results in _results(session, p.kind, p).items():
            state.setdefault(code, {})[unit] = (p, *_streak(results, p))
    session.flush()
    existing = _escalations(session)
    month_anchor = next((p for p in due if p.kind == "month"), None) or _last_month(session, cal, day)
    fired: list[Fired] = []
    for code in sorted(state):
        runs = dict(state[code])
        if "months" not in runs:   # the monthly run as the last month evaluated before left it
            runs["months"] = (month_anchor, *_streak(_results(session, "month", month_anchor, [code]).get(code, {}),
                                                     month_anchor))
        mine = existing.get(code, [])
        current = [e for e in mine if e.tier in by_name
                   and e.run_started == runs.get(by_name[e.tier].unit, (None, 0, None))[2]]
        recorded = {e.tier for e in current}
        issued_before = {e.tier: e for e in current if e.state == ISSUED and eval_day(e) < day}
        monthly_in_force = any(by_name[t].unit == "months" for t in issued_before)
        candidates = []
        for unit, (p, streak, first) in runs.items():
            if p not in due or not streak:
                continue
            reached = [t for t in ladder if t.unit == unit and streak >= t.after
                       and (not t.requires or t.requires in issued_before)]
            if not reached:
                continue
            top = reached[-1]
            if top.name in recorded or any(by_name[n].order > top.order and by_name[n].unit == unit for n in recorded):
                continue
            candidates.append((top, p, streak, first))
        if not candidates:
            continue
        candidates.sort(key=lambda c: c[0].order, reverse=True)
        same_day = any(e.state == ISSUED and eval_day(e) == day for e in mine)
        for i, (tier, p, streak, first) in enumerate(candidates):
            issue = i == 0 and not same_day and not (tier.unit == "weeks" and monthly_in_force)
            cites = issued_before.get(tier.requires) if tier.requires else None
            e = Escalation(unit_code=code, tier=tier.name, run_started=first, period_key=p.key, fired_at=at,
                           state=ISSUED if issue else SUPERSEDED, cites_id=cites.id if cites else None)
            session.add(e)
            session.flush()
            if issue:
                fired.append(Fired(e.id, code, tier.spec, first, streak, _run_rows(session, code, p, streak), p, cites))
    session.flush()
    return fired


def _last_month(session: Session, cal, day: date) -> Period | None:
    """The latest month evaluated before the evaluation day ``day``."""
    keys = session.scalars(select(LadderEvaluation.period_key)).all()
    months = [parse_key(k) for k in keys if "-W" not in k and len(k.split("-")) == 2]
    months = [m for m in months if evaluation_day(cal, m) < day]
    return max(months, key=lambda m: m.start) if months else None


def _run_rows(session: Session, unit: str, period: Period, streak: int) -> list[WeekResult]:
    keys, p = [], period
    for _ in range(streak):
        keys.append(p.key)
        p = p.previous()
    rows = {r.period_key: r for r in session.scalars(select(WeekResult).where(
        WeekResult.unit_code == unit, WeekResult.period_key.in_(keys)))}
    return [rows[k] for k in reversed(keys) if k in rows]


def notice_of(session: Session, escalation: Escalation) -> Document | None:
    """The notice (约谈通知 / 提请) a tier was issued with."""
    return session.scalars(select(Document).where(
        Document.kind == "interview_notice",
        Document.scope == f"{escalation.unit_code}:{escalation.tier}:{escalation.run_started}")).first()


def ledger_rows(session: Session, at: datetime, units=None) -> list[dict]:
    """Every tier reached by ``at`` (issued or superseded), for ``hotline escalation list`` and the
    console: unit, tier, state, the period and run, when, and the tier it cites."""
    by_name = {t.name: t for t in ladder_tiers()}
    out = []
    for unit, rows in sorted(_escalations(session, at, units).items()):
        ids = {e.id: e for e in rows}
        for e in rows:
            tier = by_name.get(e.tier)
            cited = ids.get(e.cites_id) if e.cites_id is not None else None
            out.append({"unit_code": unit, "tier": e.tier, "tier_label": tier.label if tier else e.tier,
                        "state": e.state, "state_label": "已发出" if e.state == ISSUED else "已在更高层级",
                        "period_key": e.period_key, "period": parse_key(e.period_key).label(),
                        "run_started": e.run_started, "fired_at": e.fired_at,
                        "cites": (by_name[cited.tier].label if cited and cited.tier in by_name else None)})
    return out


def describe(st: UnitLadder) -> dict:
    """A unit's place on the ladder in a document's words: how long failing, the tier in force and
    since when, and what the next failing period would bring ("—" where there is nothing)."""
    parts = []
    if st.weekly_streak and st.run_started:
        d = parse_key(st.run_started).start
        parts.append(f"{st.weekly_streak}周（自{d.month}月{d.day}日起）")
    if st.monthly_streak and st.monthly_run_started:
        m = parse_key(st.monthly_run_started).start
        parts.append(f"{st.monthly_streak}个月（自{m.year}年{m.month}月起）")
    since = st.tier_fired_at
    return {"streak": "；".join(parts) or "—",
            "tier": f"{st.tier.label}（{since.year}年{since.month}月{since.day}日）" if st.tier and since else "—",
            "tier_label": st.tier.label if st.tier else None, "next": st.next_step or "—"}


def ladder_table(session: Session, at: datetime, names: dict[str, str], units=None) -> list[dict]:
    """The ladder table of a document of moment ``at``: every unit on the ladder, highest tier and
    longest run first."""
    rows = [{"unit_code": code, "unit_name": names.get(code, code), "state": st, **describe(st)}
            for code, st in ladder_at(session, at, units).items() if st.active]
    return sorted(rows, key=lambda r: (-(r["state"].tier.order if r["state"].tier else -1),
                                       -r["state"].monthly_streak, -r["state"].weekly_streak, r["unit_code"]))
