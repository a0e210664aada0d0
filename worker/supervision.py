"""The supervision ledger (挂牌督办 → 销号) and the ladder's state per unit.

Every ticket named in a supervision letter (督办函) is an entry, by ticket and stage, with the
letter's day and deadline.  Its state at a moment comes from the ticket's derived rows:
- closed (销号): for a late reply or completion, the accountable unit's reply was accepted; for
  回访未解决, a later callback found the matter satisfied — ``in_time`` says whether by the deadline;
- overdue: not closed and the letter's deadline has passed (逾期未办结: the weekly bulletin names
  these, as the letter warned);
- open: not closed, the deadline still ahead.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from .assignments import SATISFIED
from .models import Assignment, Escalation, SupervisionItem, Ticket, WeekResult
from .periods import Period, parse_key
from .times import end_of_day

LETTER_STAGES = ("reply", "completion", "unresolved")


@dataclass
class Entry:
    ticket_id: int
    number: str
    stage: str
    unit_code: str
    day: date
    deadline: date | None
    state: str            # open | overdue | closed
    closed_at: datetime | None
    in_time: bool | None  # closed by the deadline


def ledger(session, as_of: datetime, unit: str | None = None, issued_before: datetime | None = None) -> list[Entry]:
    """Every supervised ticket (letters issued up to ``as_of``) with its state at ``as_of``."""
    q = (select(SupervisionItem, Ticket.number, Assignment.finished_at, Assignment.callback_at, Assignment.satisfaction)
         .join(Ticket, Ticket.id == SupervisionItem.ticket_id)
         .join(Assignment, (Assignment.ticket_id == SupervisionItem.ticket_id) & Assignment.is_current.is_(True),
               isouter=True)
         .where(SupervisionItem.stage.in_(LETTER_STAGES), SupervisionItem.day <= as_of.date())
         .order_by(SupervisionItem.unit_code, SupervisionItem.day, Ticket.number))
    if unit:
        q = q.where(SupervisionItem.unit_code == unit)
    out = []
    for item, number, finished, callback, satisfaction in session.execute(q):
        letter = datetime.combine(item.day, datetime.min.time())
        if item.stage == "unresolved":
            closed_at = callback if (callback is not None and callback > letter and satisfaction in SATISFIED) else None
        else:
            closed_at = finished
        if closed_at is not None and closed_at > as_of:
            closed_at = None
        due = end_of_day(item.deadline) if item.deadline else None
        if closed_at is not None:
            state, in_time = "closed", due is None or closed_at <= due
        else:
            state, in_time = ("overdue" if due is not None and as_of > due else "open"), None
        out.append(Entry(item.ticket_id, number, item.stage, item.unit_code, item.day, item.deadline, state,
                         closed_at, in_time))
    return out


def counts_by_unit(entries: list[Entry], period: Period) -> dict[str, Counter]:
    """Per unit: letters' tickets issued in the period, closed in it, and overdue at its end."""
    out: dict[str, Counter] = {}
    for e in entries:
        c = out.setdefault(e.unit_code, Counter())
        c["issued"] += period.start <= e.day < period.end
        c["closed"] += e.closed_at is not None and period.start_at <= e.closed_at < period.end_at
        c["overdue"] += e.state == "overdue"
    return out


@dataclass
class LadderState:
    unit_code: str
    streak: int                # consecutive failing weeks up to the period
    run_started: str | None    # the first failing week of the run
    tier_label: str | None     # the highest tier issued in the run
    tier_since: datetime | None
    next_tier: str | None      # the tier one more failing week would reach (提前预警)


def ladder_states(session, period: Period, names: dict[str, str] | None = None,
                  units: list[str] | None = None) -> dict[str, LadderState]:
    """Each unit's (or these ``units``') weekly run of failing weeks up to ``period``, the tier it
    reached and the next one."""
    from .escalation import tier_label, tiers

    weekly = [t for t in tiers() if "weeks" in t["after"]]
    keys, p = [], period
    for _ in range(26):
        keys.append(p.key)
        p = p.previous()
    results: dict[str, dict[str, bool]] = {}
    query = select(WeekResult).where(WeekResult.period_key.in_(keys))
    if units is not None:
        query = query.where(WeekResult.unit_code.in_(units))
    for r in session.scalars(query):
        results.setdefault(r.unit_code, {})[r.period_key] = r.failing
    out = {}
    for unit, by_key in results.items():
        streak = 0
        for key in keys:
            if not by_key.get(key):
                break
            streak += 1
        run_started = keys[streak - 1] if streak else None
        fired = session.scalars(select(Escalation).where(Escalation.unit_code == unit,
                                                         Escalation.run_started == run_started)
                                .order_by(Escalation.id)).all() if run_started else []
        order = {t["name"]: i for i, t in enumerate(tiers())}
        top = max(fired, key=lambda e: order.get(e.tier, -1)) if fired else None
        labels = {t["name"]: tier_label(t) for t in tiers()}
        issued = {e.tier for e in fired}
        nxt = next((tier_label(t) for t in weekly if int(t["after"]["weeks"]) == streak + 1 and t["name"] not in issued
                    and not any(order.get(i, -1) > order[t["name"]] for i in issued)), None)
        out[unit] = LadderState(unit, streak, run_started, labels.get(top.tier) if top else None,
                                top.fired_at if top else None, nxt)
    return out


def since_text(state: LadderState) -> str:
    if not state.run_started:
        return "—"
    start = parse_key(state.run_started).start
    return f"自{start.month}月{start.day}日起"

