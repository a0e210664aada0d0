"""The supervision ledger (挂牌督办 → 销号).

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

from .asof import view
from .assignments import SATISFIED
from .models import SupervisionItem, Ticket
from .periods import Period
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
    A = view(session, as_of).A
    q = (select(SupervisionItem, Ticket.number, A.finished_at, A.callback_at, A.satisfaction)
         .join(Ticket, Ticket.id == SupervisionItem.ticket_id)
         .join(A, (A.ticket_id == SupervisionItem.ticket_id) & A.is_current.is_(True), isouter=True)
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
