"""The derived rows as they stood at a moment (DOMAIN.md "As of a moment").

The derived tables — ``assignments``, their clock rows, the per-day rollup and the analysis queue —
hold each ticket as its whole event history makes it.  A document, page or replay for a moment T must
see each ticket as its events up to T made it: a return, a second callback, a redo or an extension
recorded after T must not show, nor move a figure of a period that ended by T.

Most tickets are the same either way: those without any event after T.  The others (*touched*:
received by T, with an event after it) are derived again from their events up to T and put in place
of their stored rows, inside the caller's transaction (``view``); every query then reads the ordinary
tables with their ordinary plans.  Before the transaction commits, the touched tickets are derived
again from all their events (``restore``, a ``before_commit`` hook); a transaction rolled back takes
the substitution with it.  With the data imported up to T — the live service, where T is now — there
are none and nothing is written.

Finding them is cheap: a ticket received by T with an event after T lived across T, and
``tickets.life_class`` bounds how long before T it can have been received (the powers-of-two bound of
``assignments.span_class``).  A session holds one moment at a time: asking for another restores the
first.  On PostgreSQL the substitution holds the touched tickets' derived rows locked until the
transaction ends (an import refreshing them waits that long), in ticket order, so two jobs never
deadlock on them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, event, func, or_, select
from sqlalchemy.orm import Session

from .assignments import SPAN_TOP, refresh
from .calendar import WorkCalendar
from .models import AnalysisItem, Assignment, AssignmentClock, EventKind, Ticket, TicketEvent
from .rules import Rules


@dataclass(frozen=True)
class View:
    """The derived tables as of ``at``: ``A`` (assignments), ``C`` (clock rows) and ``Q`` (the
    analysis queue), to select from — the tables themselves, holding the touched tickets' rows as
    they stood at ``at`` while this view is the session's."""
    at: datetime
    touched: tuple[int, ...] = ()
    among: frozenset[int] | None = None   # None: every ticket; else only these tickets' rows are as of ``at``
    # The calendar and rules the touched tickets were derived with, to restore them with (None: none touched).
    policy: tuple[WorkCalendar, Rules] | None = field(default=None, compare=False, repr=False)
    A = Assignment
    C = AssignmentClock
    Q = AnalysisItem

    @property
    def stored(self) -> bool:
        """True when no ticket changed after ``at``: the stored rows are the rows as of ``at``."""
        return not self.touched


def latest_event(session: Session) -> datetime | None:
    """The time of the newest event stored: one index probe per kind (``ix_events_kind_at``)."""
    times = [session.scalar(select(func.max(TicketEvent.at)).where(TicketEvent.kind == k.value)) for k in EventKind]
    return max((t for t in times if t is not None), default=None)


def touched_tickets(session: Session, at: datetime, among: frozenset[int] | None = None) -> list[int]:
    """Tickets received by ``at`` with an event after it: per life class k, among those received
    in the 2**k days before ``at`` (``ix_tickets_life``); ``among``: of these tickets only."""
    latest = session.info.get("asof_latest_event", ...)
    if latest is ...:
        latest = session.info["asof_latest_event"] = latest_event(session)
    if latest is None or latest <= at:
        return []
    lived_across = [and_(Ticket.life_class == k, Ticket.received_at > at - timedelta(days=1 << k))
                    for k in range(SPAN_TOP)]
    q = select(Ticket.id).where(Ticket.received_at <= at, Ticket.last_event_at > at,
                                or_(*lived_across, Ticket.life_class == SPAN_TOP))
    if among is not None:
        q = q.where(Ticket.id.in_(sorted(among)))
    return list(session.scalars(q.order_by(Ticket.id)))


def view(session: Session, at: datetime, among: Iterable[int] | None = None) -> View:
    """The derived tables as of ``at`` for the rest of the session's transaction, or until another
    moment is asked for.

    ``among``: a caller reading only these tickets' rows (the supervision ledger: the tickets of
    its letters) has only those of them touched derived again — a handful instead of every ticket
    that lived across ``at`` (thousands, on a page replaying a past moment).  A later wider request
    puts them back and derives the wider set."""
    current: View | None = session.info.get("asof_view")
    wanted = None if among is None else frozenset(among)
    if current is not None:
        if current.at == at and (current.among is None or (wanted is not None and wanted <= current.among)):
            return current
        restore(session)
        if current.at == at and wanted is not None and current.among is not None:
            wanted |= current.among   # the same moment, more tickets: those already in view stay
    touched = tuple(touched_tickets(session, at, wanted)) if wanted is None or wanted else ()
    policy = _policy() if touched else None
    if policy is not None:
        refresh(session, list(touched), *policy, until=at)
    session.info["asof_view"] = View(at, touched, wanted, policy)
    return session.info["asof_view"]


def restore(session: Session) -> None:
    """The touched tickets derived again from all their events: the stored rows as they were."""
    current: View | None = session.info.pop("asof_view", None)
    if current is not None and current.touched and current.policy is not None:
        refresh(session, list(current.touched), *current.policy, lives=False)


def _policy() -> tuple[WorkCalendar, Rules]:
    from .calendar import load_calendar
    from .rules import load_rules

    return load_calendar(), load_rules()


@event.listens_for(Session, "before_commit")
def _restore_before_commit(session: Session) -> None:
    restore(session)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """A view and the newest event's time hold for one transaction (a rollback has taken the
    substitution with it)."""
    if transaction.parent is None:
        for key in ("asof_view", "asof_latest_event"):
            session.info.pop(key, None)
