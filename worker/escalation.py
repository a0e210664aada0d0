"""The escalation ladder as a state machine over stored period results.

State per unit is its history of ``week_results`` (and monthly results, keyed ``2026-11``).
Evaluating a period: store whether each unit failed it (idempotent upsert), measure the current
run of consecutive failing periods, and fire every tier whose threshold the run has reached and
that has not fired for this run yet (unique on unit + tier + first period of the run).  A passing
period ends the run, so the next failing period starts a new one and tiers can fire again.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .config import ConfigError, load_settings, read_yaml
from .metrics import PeriodMetrics, compute
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
    existing = {r.unit_code: r for r in session.scalars(select(WeekResult).where(WeekResult.period_key == key))}
    for u in result.units:
        detail = {"resolution": str(u.resolution), "satisfaction": str(u.satisfaction), "rank": u.rank,
                  "bottom": u.bottom, "meets": u.meets_requirement}
        row = existing.get(u.unit_code)
        if row is None:
            session.add(WeekResult(unit_code=u.unit_code, period_key=key, failing=u.failing, detail=detail))
        else:
            row.failing, row.detail = u.failing, detail
    session.flush()


def ensure_results(session, period: Period, depth: int) -> None:
    """Results for this period and the ``depth - 1`` before it (computed where missing)."""
    p = period
    for i in range(depth):
        have = session.scalar(select(WeekResult.unit_code).where(WeekResult.period_key == p.key).limit(1))
        if i == 0 or have is None:
            _upsert_results(session, compute(session, p))
        p = p.previous()


def evaluate(session, period: Period) -> list[Fired]:
    """Evaluate a week or a month; returns the tiers that fired now (each once per run)."""
    unit_kind = "weeks" if period.kind == "week" else "months"
    ladder = [t for t in tiers() if next(iter(t["after"])) == unit_kind]
    if not ladder:
        return []
    depth = max(int(t["after"][unit_kind]) for t in ladder)
    ensure_results(session, period, depth + 1)
    failing_now = session.scalars(select(WeekResult.unit_code).where(
        WeekResult.period_key == period.key, WeekResult.failing.is_(True)).order_by(WeekResult.unit_code)).all()
    fired = []
    for unit_code in failing_now:
        run, p = [], period
        while (r := session.get(WeekResult, (unit_code, p.key))) is not None and r.failing:
            run.append(r)
            p = p.previous()
        streak, run_started = len(run), run[-1].period_key
        for tier in ladder:
            if streak < int(tier["after"][unit_kind]):
                continue
            exists = session.scalar(select(Escalation.id).where(
                Escalation.unit_code == unit_code, Escalation.tier == tier["name"],
                Escalation.run_started == run_started))
            if exists is None:
                session.add(Escalation(unit_code=unit_code, tier=tier["name"], run_started=run_started,
                                       period_key=period.key, fired_at=now_local()))
                fired.append(Fired(unit_code, tier, run_started, streak, list(reversed(run))))
    session.flush()
    return fired
