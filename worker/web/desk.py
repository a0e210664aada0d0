"""The today page as each unit's desk: what to do today and by when, and where the week is heading.

A desk is a unit (a liaison's, a head's; a leader's units, worst first) or the district (the
centre): its overdue and warned tickets ordered by due time with the time left or overdue, its
open 督办函 with the act-by date, its place on the ladder and the next step, its daily list (the
lines of the ``unit_daily`` e-mail, ``daily_lists``) and, from Wednesday, the week's forecast.

The forecast is ``worker.metrics.compute`` over the current week cut at the moment — the code the
weekly bulletin ranks with — so on Sunday 23:59:59 it is the bulletin's ranking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from .. import detection
from ..ladder import UnitLadder, describe, ladder_at
from ..metrics import PeriodMetrics, compute
from ..models import Assignment as A
from ..periods import containing
from ..rendering import masked_ticket
from ..supervision import Entry, ledger

DESK_ROWS = 30          # tickets shown on a desk; the full list is a link away
FORECAST_FROM = 2       # Wednesday (Monday 0): earlier in the week too few callbacks to say anything
STAGES = {"reply": "答复", "completion": "办结", "unresolved": "回访未解决"}


def time_left(due: datetime, now: datetime) -> str:
    """「超期N天」/「超期N小时」 past due, 「剩余N小时」 within two days, else 「剩余N天」 (calendar time)."""
    if due < now:
        late = now - due
        return f"超期{late.days}天" if late.days else f"超期{max(1, late.seconds // 3600)}小时"
    left = due - now
    hours = int(left.total_seconds() // 3600)
    return f"剩余{hours}小时" if hours < 48 else f"剩余{left.days}天"


@dataclass
class Desk:
    code: str | None            # None: the district
    name: str
    tickets: list[dict] = field(default_factory=list)
    overdue: int = 0
    warning: int = 0
    letters: list[Entry] = field(default_factory=list)
    ladder: UnitLadder | None = None
    daily: list[tuple[str, list[str]]] = field(default_factory=list)
    forecast: dict | None = None
    ladder_words: dict | None = None    # the ladder as every document states it (``ladder.describe``)

    @property
    def letters_overdue(self) -> int:
        return sum(1 for e in self.letters if e.state == "overdue")


def work_list(session, as_of: datetime, horizon: datetime, *where) -> tuple[list[dict], int, int]:
    """(rows, overdue, warned): overdue then warned tickets, each ordered by the due time of its
    clock (longest overdue first, then soonest due), with ``time_left``; ``where``: the scope."""
    late = detection.overdue_open(session, as_of, *where)
    soon = detection.warnings(session, as_of, horizon, *where)
    rows = sorted(late, key=lambda r: (r["clock_due"], r["number"])) + \
        sorted(soon, key=lambda r: (r["clock_due"], r["number"]))
    for r in rows:
        r["left"], r["late"] = time_left(r["clock_due"], as_of), r["clock_due"] < as_of
    return rows, len(late), len(soon)


def desks(session, viewer, win, names: dict[str, str]) -> list[Desk]:
    """The viewer's desks: one per unit of a unit-scoped viewer (worst first), or the district's."""
    from ..tasks.units import SECTIONS, daily_lists

    scope = viewer.assignment_scope()
    codes = sorted(viewer.units) if viewer.units is not None else [None]
    ladders = ladder_at(session, win.as_of, units=None if viewer.units is None else codes)
    entries = [e for e in ledger(session, win.as_of) if not e.settled and viewer.sees_unit(e.unit_code)]
    daily = daily_lists(session, win.as_of, win.since, win.horizon, *scope) if viewer.units is not None else {}
    weekly = forecast(session, win.as_of, viewer)
    out = []
    for code in codes:
        where = [*scope, *((A.unit_code == code,) if code else ())]
        rows, late, soon = work_list(session, win.as_of, win.horizon, *where)
        rows = [r if viewer.unmasked else masked_ticket(r) for r in rows]   # as every list: callers masked
        for r in rows:
            r["unit_name"] = names.get(r["unit_code"], r["unit_code"])
        desk = Desk(code, names.get(code, code) if code else "全区", rows[:DESK_ROWS], late, soon,
                    sorted((e for e in entries if code is None or e.unit_code == code),
                           key=lambda e: (e.state != "overdue", e.deadline or e.day, e.number)),
                    ladders.get(code) if code else None,
                    [(title, daily.get(code, {}).get(key, [])) for key, title in SECTIONS if daily.get(code, {}).get(key)])
        if desk.ladder is not None and desk.ladder.active:
            desk.ladder_words = describe(desk.ladder)
        if weekly:
            desk.forecast = weekly["units"].get(code) if code else None
        out.append(desk)
    out.sort(key=lambda d: (-d.overdue, -d.letters_overdue, -d.warning, d.code or ""))
    return out


def forecast(session, as_of: datetime, viewer=None, cfg: dict | None = None) -> dict | None:
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


def forecast_words(m, ranked: int) -> str:
    """The sentence the today page and the leader digest print for a unit."""
    if m.rank is None:
        return "本周你单位尚无回访评价，暂不排名。"
    verdict = "低于要求" if m.meets_requirement is False else "达到要求"
    tail = "，且处于后位，本周将计为未达标周" if m.failing else ""
    return f"按目前数据，本周你单位将排名第{m.rank}位（共{ranked}个单位），{verdict}{tail}。"


def week_label(as_of: datetime) -> str:
    week = containing("week", as_of)
    end = min(as_of, week.end_at - timedelta(seconds=1))
    return f"{week.start.month}月{week.start.day}日至{end.month}月{end.day}日 {end:%H:%M}"
