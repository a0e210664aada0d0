"""The escalation ladder's configuration and its stored period results.

``tiers()`` reads the ladder from ``config/escalation.yaml``; ``ensure_results`` stores whether each
unit failed a week or a month (``week_results``, keyed ``2026-W45`` or ``2026-11``; an idempotent
upsert, computed as of the period's end).  The state machine over them is ``worker.ladder``.

A month counts only when it is covered by data from its first day (a partial first month of data
is not assessed) and with ``min_callbacks_to_fail`` evaluations, like a week.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import policy
from .metrics import PeriodMetrics, compute, partial_first_period
from .models import WeekResult
from .periods import Period
from .policy_schema import Tier


def tiers() -> list[Tier]:
    """The ladder's tiers, from the policy file as read once and again when it changes (every
    page stating a unit's place on the ladder asks); its schema holds each to one ``after`` and
    a ``requires`` to a tier listed before it."""
    return policy.escalation().tiers


def tier_label(tier: Tier) -> str:
    return tier.label or tier.name


def _upsert_results(session: Session, result: PeriodMetrics) -> None:
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


def ensure_results(session: Session, period: Period, depth: int, limit: int = 26) -> None:
    """Results for this period (computed again) and the ``depth - 1`` before it, and further back
    while some unit was failing (up to ``limit`` periods), so that a run's length and start are
    exact however long it is: computed where missing, kept where stored."""
    p, failing = period, True
    for i in range(limit):
        if i >= depth and not failing:
            break
        have = session.scalar(select(WeekResult.unit_code).where(WeekResult.period_key == p.key).limit(1))
        if i == 0 or have is None:
            _upsert_results(session, compute(session, p))
        failing = session.scalar(select(WeekResult.unit_code).where(WeekResult.period_key == p.key,
                                                                    WeekResult.failing.is_(True)).limit(1)) is not None
        p = p.previous()
