"""Where the week is heading, from Wednesday (issue 35): each unit's 双率 so far against the
requirement, its rank were the week to end now, and the callbacks still to come — the console's
desk and the leader digest print the same sentences from here.

It is ``worker.metrics.compute`` over the current week cut at the moment — the code the weekly
bulletin ranks with — so on Sunday 23:59:59 it is the bulletin's ranking.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .metrics import PeriodMetrics, compute
from .models import Assignment as A
from .periods import containing
from .policy_schema import Metrics

FORECAST_FROM = 2       # Wednesday (Monday 0): earlier in the week too few callbacks to say anything


def forecast(session: Session, as_of: datetime, viewer=None, cfg: Metrics | None = None) -> dict | None:
    """Where the week is heading, from Wednesday: each unit's 双率 so far against the requirement,
    its rank were the week to end now, and the callbacks still to come (tickets finished at the
    unit since the start of the previous week and not yet called back).  ``compute`` on the week
    cut at ``as_of``: the bulletin's own counting."""
    week = containing("week", as_of)
    if (as_of.date() - week.start).days < FORECAST_FROM:
        return None
    result: PeriodMetrics = compute(session, week, as_of=as_of, cfg=cfg)
    waiting = dict(session.execute(
        select(A.unit_code, func.count()).where(
            A.is_current.is_(True), A.finished_at >= week.previous().start_at, A.finished_at <= as_of,
            or_(A.callback_at.is_(None), A.callback_at > as_of))
        .group_by(A.unit_code)).all())
    ranked = len(result.ranked)
    units = {}
    for m in result.units:
        if viewer is not None and not viewer.sees_unit(m.unit_code):
            continue
        units[m.unit_code] = {"m": m, "ranked": ranked, "waiting": int(waiting.get(m.unit_code, 0)),
                              "words": forecast_words(m, ranked)}
    return {"week": week, "as_of": as_of, "requirement": result.requirement, "ranked": ranked, "units": units,
            "result": result}


def forecast_words(m, ranked: int, subject: str = "你单位") -> str:
    """The sentence the today page (``subject``: 你单位) and the leader digest (the unit's name)
    print for a unit."""
    if m.rank is None:
        return f"本周{subject}尚无回访评价，暂不排名。"
    verdict = "低于要求" if m.meets_requirement is False else "达到要求"
    tail = "，且处于后位，本周将计为未达标周" if m.failing else ""
    return f"按目前数据，本周{subject}将排名第{m.rank}位（共{ranked}个单位），{verdict}{tail}。"


def week_label(as_of: datetime) -> str:
    week = containing("week", as_of)
    end = min(as_of, week.end_at - timedelta(seconds=1))
    return f"{week.start.month}月{week.start.day}日至{end.month}月{end.day}日 {end:%H:%M}"
