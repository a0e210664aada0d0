"""The escalation ladder as a state machine over stored period results.

State per unit is its history of ``week_results`` (and monthly results, keyed ``2026-11``).
Evaluating a period: store whether each unit failed it (idempotent upsert), measure the current
run of consecutive failing periods, and fire at most one tier (unique on unit + tier + first
period of the run).  A passing period ends the run, so the next failing period starts a new one
and tiers can fire again.

The ladder climbs at most one tier per evaluation (DOMAIN.md decisions): the tier fired is the
highest whose threshold the run has reached, unless that tier or a higher one already fired in
this run.  A tier with ``requires: NAME`` fires only once the named tier was issued in this run at
an earlier evaluation and the unit failed again (仍不整改: 常务会议说明 after 人大质询).  So a unit
already deep in a failing run when the service is switched on gets the highest tier reached,
once, never every lower one the same day.

A month counts only when it is covered by data from its first day (a partial first month of data
is not assessed) and with ``min_callbacks_to_fail`` evaluations, like a week.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from .config import ConfigError, load_settings, read_yaml
from .metrics import PeriodMetrics, compute, partial_first_period
from .models import Escalation, WeekResult
from .periods import Period
from .times import now_local


def tiers() -> list[dict]:
    path = load_settings().config_dir / "escalation.yaml"
    data = read_yaml(path)
    out = []
    for i, t in enumerate(data.get("tiers") or [], 1):
        after = t.get("after") or {}
        if not t.get("name") or len(after) != 1 or next(iter(after)) not in ("weeks", "months"):
            raise ConfigError(f"{path}: tiers[{i}] needs a name and after: {{weeks: N}} or {{months: N}}")
        if t.get("requires") and t["requires"] not in {o.get("name") for o in out}:
            raise ConfigError(f"{path}: tiers[{i}].requires: {t['requires']!r} is not a tier listed before it")
        out.append(t)
    return out


def tier_label(tier: dict) -> str:
    return tier.get("label", tier["name"])


@dataclass
class Fired:
    unit_code: str
    tier: dict
    run_started: str
    streak: int
    history: list[WeekResult]


def _upsert_results(session, result: PeriodMetrics) -> None:
    key = result.period.key
    partial = result.period.kind == "month" and partial_first_period(session, result.period)
    existing = {r.unit_code: r for r in session.scalars(select(WeekResult).where(WeekResult.period_key == key))}
    for u in result.units:
        detail = {"resolution": [u.dual_resolution.num, u.dual_resolution.den],
                  "satisfaction": [u.dual_satisfaction.num, u.dual_satisfaction.den], "rank": u.rank,
                  "bottom": u.bottom, "meets": u.meets_requirement}
        failing = u.failing and not partial
        if partial:
            detail["partial"] = True
        row = existing.get(u.unit_code)
        if row is None:
            session.add(WeekResult(unit_code=u.unit_code, period_key=key, failing=failing, detail=detail))
        else:
            row.failing, row.detail = failing, detail
    session.flush()


def ensure_results(session, period: Period, depth: int) -> None:
    """Results for this period and the ``depth - 1`` before it (computed where missing)."""
    p = period
    for i in range(depth):
        have = session.scalar(select(WeekResult.unit_code).where(WeekResult.period_key == p.key).limit(1))
        if i == 0 or have is None:
            _upsert_results(session, compute(session, p))
        p = p.previous()


def evaluate(session, period: Period, at: datetime | None = None) -> list[Fired]:
    """Evaluate a week or a month; returns the tier that fired now per unit (at most one)."""
    unit_kind = "weeks" if period.kind == "week" else "months"
    ladder = [t for t in tiers() if next(iter(t["after"])) == unit_kind]
    if not ladder:
        return []
    depth = max(int(t["after"][unit_kind]) for t in ladder)
    ensure_results(session, period, depth + 1)
    failing_now = session.scalars(select(WeekResult.unit_code).where(
        WeekResult.period_key == period.key, WeekResult.failing.is_(True)).order_by(WeekResult.unit_code)).all()
    order = {t["name"]: i for i, t in enumerate(ladder)}
    fired = []
    for unit_code in failing_now:
        run, p = [], period
        while (r := session.get(WeekResult, (unit_code, p.key))) is not None and r.failing:
            run.append(r)
            p = p.previous()
        streak, run_started = len(run), run[-1].period_key
        issued = {e.tier: e for e in session.scalars(select(Escalation).where(
            Escalation.unit_code == unit_code, Escalation.run_started == run_started,
            Escalation.tier.in_(list(order))))}
        reached = [t for t in ladder if streak >= int(t["after"][unit_kind])
                   and (not t.get("requires") or (t["requires"] in issued
                                                  and issued[t["requires"]].period_key != period.key))]
        if not reached:
            continue
        top = reached[-1]
        if top["name"] in issued or any(order[name] > order[top["name"]] for name in issued):
            continue
        session.add(Escalation(unit_code=unit_code, tier=top["name"], run_started=run_started,
                               period_key=period.key, fired_at=at or now_local()))
        fired.append(Fired(unit_code, top, run_started, streak, list(reversed(run))))
    session.flush()
    return fired
