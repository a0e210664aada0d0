"""The supervision ledger (挂牌督办 → 销号).

Every ticket named in a supervision letter (督办函) is an entry, by ticket and stage, with the
letter's day and deadline.  Its state at a moment comes from the ticket's derived rows:
- closed (销号): for a late reply or completion, the accountable unit's reply was accepted; for
  回访未解决, a later callback found the matter satisfied — ``in_time`` says whether by the deadline;
- overdue: not closed and the letter's deadline has passed (逾期未办结: the weekly bulletin names
  these, as the letter warned);
- open: not closed, the deadline still ahead.

Closing out on line (销号管理) is a second, separate line of each entry: the unit answers what was
done (``answer``), the centre accepts it (销号, ``accepted``) or returns it with a reason
(``returned``: the unit answers again).  Its state at a moment is the last step by then
(``supervision_steps``, written by ``worker.closeout``).  An entry's answer is overdue once the
letter's deadline has passed without an accepted answer — an answer still waiting for the centre
included (the brief's rule; the page shows it is waiting).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .asof import view
from .assignments import SATISFIED
from .models import SupervisionItem, SupervisionStep, Ticket
from .periods import Period
from .times import end_of_day

LETTER_STAGES = ("reply", "completion", "unresolved")
ANSWER_STATES = {"none": "未答复", "answered": "已答复待销号", "accepted": "已销号", "returned": "已退回"}
AFTER = {"answer": "answered", "accept": "accepted", "return": "returned"}


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
    steps: list[SupervisionStep] = field(default_factory=list)   # the close-out steps by the moment
    answer_overdue: bool = False   # the deadline passed without an accepted answer

    @property
    def answer(self) -> str:
        """none | answered | accepted | returned: where closing out on line stands."""
        return AFTER[self.steps[-1].action] if self.steps else "none"

    @property
    def settled(self) -> bool:
        """Off the unit's desk: 销号 accepted, or the ticket handled and no answer under way."""
        return self.answer == "accepted" or (self.state == "closed" and self.answer == "none")

    def last(self, action: str) -> SupervisionStep | None:
        return next((st for st in reversed(self.steps) if st.action == action), None)


def ledger(session: Session, as_of: datetime, unit: str | None = None, issued_before: datetime | None = None,
           number: str | None = None) -> list[Entry]:
    """Every supervised ticket (letters issued up to ``as_of``; ``number``: that ticket's only) with
    its state at ``as_of``."""
    letters = [SupervisionItem.stage.in_(LETTER_STAGES), SupervisionItem.day <= as_of.date()]
    if unit:
        letters.append(SupervisionItem.unit_code == unit)
    if number:
        letters.append(SupervisionItem.ticket_id.in_(select(Ticket.id).where(Ticket.number == number)))
    # Only the letters' tickets are read: only they need their rows as of the moment.
    A = view(session, as_of, among=session.scalars(select(SupervisionItem.ticket_id).where(*letters))).A
    q = (select(SupervisionItem, Ticket.number, A.finished_at, A.callback_at, A.satisfaction)
         .join(Ticket, Ticket.id == SupervisionItem.ticket_id)
         .join(A, (A.ticket_id == SupervisionItem.ticket_id) & A.is_current.is_(True), isouter=True)
         .where(*letters)
         .order_by(SupervisionItem.unit_code, SupervisionItem.day, Ticket.number))
    steps = entry_steps(session, as_of, unit)
    out = []
    for item, ticket_number, finished, callback, satisfaction in session.execute(q):
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
        mine = steps.get((item.ticket_id, item.stage), [])
        out.append(Entry(item.ticket_id, ticket_number, item.stage, item.unit_code, item.day, item.deadline, state,
                         closed_at, in_time, mine,
                         due is not None and as_of > due and not (mine and mine[-1].action == "accept")))
    return out


def entry_steps(session: Session, as_of: datetime, unit: str | None = None) -> dict[tuple[int, str], list[SupervisionStep]]:
    """The close-out steps taken by ``as_of``, per (ticket, stage), in order."""
    q = (select(SupervisionStep).where(SupervisionStep.at <= as_of)
         .order_by(SupervisionStep.ticket_id, SupervisionStep.stage, SupervisionStep.at, SupervisionStep.id))
    if unit:
        q = q.where(SupervisionStep.unit_code == unit)
    out: dict[tuple[int, str], list[SupervisionStep]] = {}
    for st in session.scalars(q):
        out.setdefault((st.ticket_id, st.stage), []).append(st)
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


ACTIONS = {"answer": "答复", "accept": "销号", "return": "退回"}


def closeout_report(entries: list[Entry], period: Period) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """For a document over ``period`` (``entries``: the ledger at its moment): the entries with a
    close-out step since the period began, and per unit the entries whose answer is overdue."""
    moved = [e for e in entries if any(st.at >= period.start_at for st in e.steps)]
    overdue: dict[str, list[Entry]] = {}
    for e in entries:
        if e.answer_overdue:
            overdue.setdefault(e.unit_code, []).append(e)
    return moved, overdue


def closeout_lines(entries: list[Entry], names: dict[str, str], steps: bool) -> list[str]:
    """``hotline supervision list``'s close-out part: each entry's steps (``steps``: who, when,
    what), then the answers overdue (past the deadline without 销号)."""
    out = []
    if steps:
        for e in entries:
            for st in e.steps:
                file = f"  附件 {st.file_name}" if st.file_name else ""
                out.append(f"{e.number:<18} {ACTIONS[st.action]} {st.at:%Y-%m-%d %H:%M} {st.by_name} <{st.by_email}>: "
                           f"{' '.join(st.text.split())}{file}")
    late = [e for e in entries if e.answer_overdue]
    out.append(f"{len(late)} answer(s) overdue (past the deadline, not accepted — 逾期未销号)"
               + (": " + ", ".join(f"{e.number} {names.get(e.unit_code, e.unit_code)} {ANSWER_STATES[e.answer]}"
                                   for e in late) if late else ""))
    return out
