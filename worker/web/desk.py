"""The today page as each unit's desk: what to do today and by when, and where the week is heading.

A desk is a unit (a liaison's, a head's; a leader's units, worst first) or the district (the
centre): its overdue and warned tickets ordered by due time with the time left or overdue, its
open 督办函 with the act-by date, its place on the ladder and the next step, its daily list (the
lines of the ``unit_daily`` e-mail, ``daily_lists``) and, from Wednesday, the week's forecast.

The forecast is ``worker.forecast`` (the leader digest prints the same sentences).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from .. import detection
from ..forecast import forecast
from ..ladder import UnitLadder, describe, ladder_at
from ..models import Assignment as A
from ..rendering import masked_ticket
from ..supervision import Entry, ledger

DESK_ROWS = 30          # tickets shown on a desk; the full list is a link away
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


def work_list(session: Session, as_of: datetime, horizon: datetime, *where) -> tuple[list[dict], int, int]:
    """(rows, overdue, warned): overdue then warned tickets, each ordered by the due time of its
    clock (longest overdue first, then soonest due), with ``time_left``; ``where``: the scope."""
    late = detection.overdue_open(session, as_of, *where)
    soon = detection.warnings(session, as_of, horizon, *where)
    rows = sorted(late, key=lambda r: (r["clock_due"], r["number"])) + \
        sorted(soon, key=lambda r: (r["clock_due"], r["number"]))
    for r in rows:
        r["left"], r["late"] = time_left(r["clock_due"], as_of), r["clock_due"] < as_of
    return rows, len(late), len(soon)


def desks(session: Session, viewer, win, names: dict[str, str]) -> list[Desk]:
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
        lists = daily.get(code, {}) if code else {}
        desk = Desk(code, names.get(code, code) if code else "全区", rows[:DESK_ROWS], late, soon,
                    sorted((e for e in entries if code is None or e.unit_code == code),
                           key=lambda e: (e.state != "overdue", e.deadline or e.day, e.number)),
                    ladders.get(code) if code else None,
                    [(title, lists.get(key, [])) for key, title in SECTIONS if lists.get(key)])
        if desk.ladder is not None and desk.ladder.active:
            desk.ladder_words = describe(desk.ladder)
        if weekly:
            desk.forecast = weekly["units"].get(code) if code else None
        out.append(desk)
    out.sort(key=lambda d: (-d.overdue, -d.letters_overdue, -d.warning, d.code or ""))
    return out
